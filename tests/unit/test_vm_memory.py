"""Memory: contents, the Merkle tree of docs/vm.md (against a naive tree built here), proofs, regions, snapshots."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opml.hashing import keccak
from opml.vm.memory import (
    EMPTY_ROOT,
    PAGE_SIZE,
    ZERO_HASHES,
    Memory,
    MemoryProofError,
    MemoryRangeError,
    region_root_of_bytes,
    root_after_write,
    verify_proof,
)


def _zero_subtrees() -> list[bytes]:
    zeros = [bytes(32)]
    for _ in range(27):
        zeros.append(keccak(zeros[-1] * 2))
    return zeros


NAIVE_ZEROS = _zero_subtrees()


def naive_node(leaves: dict[int, bytes], level: int, index: int) -> bytes:
    """Node (level, index) of the tree over sparse 32-byte leaves, by plain recursion (empty subtrees pruned)."""
    lo, hi = index << level, (index + 1) << level
    if not any(lo <= i < hi for i in leaves):
        return NAIVE_ZEROS[level]
    if level == 0:
        return leaves[index]
    inside = {i: v for i, v in leaves.items() if lo <= i < hi}
    return keccak(naive_node(inside, level - 1, 2 * index) + naive_node(inside, level - 1, 2 * index + 1))


def leaves_of(contents: dict[int, int]) -> dict[int, bytes]:
    """32-byte leaves of a memory holding byte `contents[addr]` (all else zero)."""
    leaves: dict[int, bytearray] = {}
    for addr, value in contents.items():
        leaves.setdefault(addr >> 5, bytearray(32))[addr & 31] = value
    return {i: bytes(v) for i, v in leaves.items()}


addresses = st.one_of(
    st.integers(0, 0xFFFF_FFFF),
    st.integers(0x0010_0000, 0x0010_2000),  # clustered: shared pages and leaves
    st.integers(0xFFFF_FFE0, 0xFFFF_FFFF),  # the very top
)
byte_writes = st.dictionaries(addresses, st.integers(0, 255), max_size=12)


def test_zero_hashes_chain():
    assert ZERO_HASHES[0] == bytes(32)
    assert len(ZERO_HASHES) == 28
    for h in range(27):
        assert ZERO_HASHES[h + 1] == keccak(ZERO_HASHES[h] + ZERO_HASHES[h])
    assert Memory().root() == EMPTY_ROOT == ZERO_HASHES[27]


def test_single_word_root_by_hand():
    memory = Memory()
    memory.write_word(0x20, 0x11223344)
    leaf = bytes.fromhex("44332211") + bytes(28)
    node = keccak(ZERO_HASHES[0] + leaf)  # leaf index 1 is a right child
    for h in range(1, 27):
        node = keccak(node + ZERO_HASHES[h])
    assert memory.root() == node


@settings(max_examples=60, deadline=None)
@given(byte_writes)
def test_root_matches_naive_tree(contents):
    memory = Memory()
    for addr, value in contents.items():
        memory.write_byte(addr, value)
    assert memory.root() == naive_node(leaves_of(contents), 27, 0)


@settings(max_examples=40, deadline=None)
@given(byte_writes, byte_writes)
def test_incremental_rehash_equals_fresh(first, second):
    """Roots taken between writes (dirty tracking) never go stale."""
    memory = Memory()
    for addr, value in first.items():
        memory.write_byte(addr, value)
    memory.root()
    for addr, value in second.items():
        memory.write_byte(addr, value)
    fresh = Memory()
    for addr, value in {**first, **second}.items():
        fresh.write_byte(addr, value)
    assert memory.root() == fresh.root()


@settings(max_examples=40, deadline=None)
@given(byte_writes, addresses, st.binary(min_size=32, max_size=32))
def test_proof_verifies_and_predicts_the_root_after_a_write(contents, addr, new_leaf):
    memory = Memory()
    for a, value in contents.items():
        memory.write_byte(a, value)
    root = memory.root()
    proof = memory.proof(addr)
    leaf = verify_proof(root, addr, proof)
    assert leaf == memory.read_bytes(addr & ~31, 32)
    memory.write_bytes(addr & ~31, new_leaf)
    assert root_after_write(addr, proof, new_leaf) == memory.root()


def test_proof_is_compact_and_mask_marks_nonzero_siblings():
    memory = Memory()
    assert len(memory.proof(0x1234)) == 36  # empty memory: every sibling is a zero hash
    memory.write_word(0x1000_0000, 1)
    memory.write_word(0x1000_0020, 2)  # the level-0 sibling of 0x10000000
    proof = memory.proof(0x1000_0000)
    assert int.from_bytes(proof[32:36], "big") == 1
    assert proof[36:68] == (2).to_bytes(4, "little") + bytes(28)
    memory.write_word(0x9000_0000, 3)  # differs at bit 31 of the address: the level-26 sibling
    proof = memory.proof(0x1000_0000)
    assert int.from_bytes(proof[32:36], "big") == 1 | 1 << 26
    assert len(proof) == 36 + 64


def test_verifier_accepts_zero_siblings_written_out():
    memory = Memory()
    memory.write_word(0x4000, 7)
    proof = memory.proof(0x4000)
    padded = proof[:32] + (1 << 5).to_bytes(4, "big") + ZERO_HASHES[5]
    assert verify_proof(memory.root(), 0x4000, padded) == proof[:32]


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def test_bad_proofs_are_rejected():
    memory = Memory()
    memory.write_word(0x100, 5)
    memory.write_word(0x120, 6)
    root, proof = memory.root(), memory.proof(0x100)
    with pytest.raises(MemoryProofError, match="does not verify"):
        verify_proof(root, 0x100, _flip(proof, 0))  # leaf
    with pytest.raises(MemoryProofError, match="does not verify"):
        verify_proof(root, 0x100, _flip(proof, 40))  # sibling
    with pytest.raises(MemoryProofError, match="does not verify"):
        verify_proof(root, 0x140, proof)  # another address
    with pytest.raises(MemoryProofError, match="says"):
        verify_proof(root, 0x100, proof + bytes(32))
    with pytest.raises(MemoryProofError, match="says"):
        verify_proof(root, 0x100, proof[:-1])
    with pytest.raises(MemoryProofError, match="shorter"):
        verify_proof(root, 0x100, proof[:35])
    with pytest.raises(MemoryProofError, match="above level 26"):
        verify_proof(root, 0x100, proof[:32] + (1 << 27).to_bytes(4, "big"))
    with pytest.raises(MemoryProofError, match="32 bytes"):
        root_after_write(0x100, proof, bytes(31))


def test_words_are_little_endian_and_bytes_cross_pages():
    memory = Memory()
    memory.write_word(0x2000, 0xA1B2C3D4)
    assert memory.read_bytes(0x2000, 4) == bytes([0xD4, 0xC3, 0xB2, 0xA1])
    assert memory.read_byte(0x2003) == 0xA1
    data = bytes(range(256)) * 40  # 10240 bytes over three pages
    memory.write_bytes(0x3FF0, data)
    assert memory.read_bytes(0x3FF0, len(data)) == data
    assert memory.read_word(0x4000) == int.from_bytes(data[16:20], "little")
    assert memory.read_bytes(0x7000_0000, 8) == bytes(8)
    assert memory.read_word(0x7000_0000) == 0


def test_bad_accesses_raise():
    memory = Memory()
    with pytest.raises(MemoryRangeError, match="aligned"):
        memory.read_word(0x1002)
    with pytest.raises(MemoryRangeError, match="aligned"):
        memory.write_word(0x1001, 0)
    with pytest.raises(MemoryRangeError, match="outside"):
        memory.write_bytes(0xFFFF_FFFE, b"abc")
    with pytest.raises(MemoryRangeError, match="outside"):
        memory.read_bytes(-1, 2)
    with pytest.raises(MemoryRangeError, match="4096"):
        memory.set_page(3, b"x")
    with pytest.raises(MemoryRangeError, match="page index"):
        memory.set_page(1 << 20, bytes(PAGE_SIZE))


def test_write_to_the_last_byte_of_memory():
    memory = Memory()
    memory.write_byte(0xFFFF_FFFF, 0x5A)
    assert memory.root() == naive_node({(1 << 27) - 1: bytes(31) + b"\x5a"}, 27, 0)


def test_region_roots_match_the_tree():
    rng = random.Random(5)
    memory = Memory()
    contents = {0x8000_0000 + rng.randrange(1 << 14): rng.randrange(1, 256) for _ in range(50)}
    for addr, value in contents.items():
        memory.write_byte(addr, value)
    leaves = leaves_of(contents)
    for log2 in (5, 6, 11, 12, 13, 20, 28, 31, 32):
        base = 0x8000_0000 if log2 < 32 else 0
        assert memory.region_root(base, log2) == naive_node(leaves, log2 - 5, base >> log2), log2
    assert memory.region_root(0, 32) == memory.root()
    assert memory.region_root(0x1000_0000, 28) == ZERO_HASHES[23]  # untouched region


def test_region_root_rejects_bad_regions():
    with pytest.raises(MemoryRangeError, match="aligned"):
        Memory().region_root(0x1000, 16)
    with pytest.raises(MemoryRangeError, match="2\\^5..2\\^32"):
        Memory().region_root(0, 4)
    with pytest.raises(MemoryRangeError, match="do not fit"):
        region_root_of_bytes(bytes(65), 6)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=9000), st.integers(5, 28))
def test_region_root_of_bytes_equals_memory(data, log2):
    data = data[: 1 << log2]
    base = 0x4000_0000 if log2 <= 30 else 0
    memory = Memory()
    memory.write_bytes(base, data)
    assert region_root_of_bytes(data, log2) == memory.region_root(base, log2)


def test_region_root_of_empty_and_full_regions():
    assert region_root_of_bytes(b"", 28) == ZERO_HASHES[23]
    full = bytes([7]) * 64
    assert region_root_of_bytes(full, 6) == keccak(full)


def test_copy_is_independent_both_ways():
    memory = Memory()
    memory.write_word(0x100, 1)
    root_before = memory.root()
    snapshot = memory.copy()
    memory.write_word(0x100, 2)
    snapshot.write_word(0x104, 3)
    assert snapshot.read_word(0x100) == 1 and memory.read_word(0x104) == 0
    assert memory.read_word(0x100) == 2 and snapshot.read_word(0x104) == 3
    expected = Memory()
    expected.write_word(0x100, 1)
    expected.write_word(0x104, 3)
    assert snapshot.root() == expected.root()
    assert snapshot.root() != root_before != memory.root()


def test_copy_keeps_unflushed_writes():
    memory = Memory()
    memory.write_word(0x200, 9)  # dirty, not hashed yet
    snapshot = memory.copy()
    memory.write_word(0x200, 10)
    assert snapshot.root() == region_root_with(0x200, (9).to_bytes(4, "little"))
    assert memory.root() == region_root_with(0x200, (10).to_bytes(4, "little"))


def region_root_with(addr: int, data: bytes) -> bytes:
    fresh = Memory()
    fresh.write_bytes(addr, data)
    return fresh.root()


def test_page_access():
    memory = Memory()
    assert memory.get_page(5) is None
    page = bytes(range(256)) * 16
    memory.set_page(5, page)
    memory.write_byte(0x9000, 1)
    assert memory.page_indices() == [5, 9]
    assert memory.get_page(5) == page
    assert memory.read_word(0x5004) == int.from_bytes(page[4:8], "little")
    assert memory.root() == region_root_with(0x5000, page + bytes(0x4000 - len(page)) + b"\x01")
    snapshot = memory.copy()
    snapshot.set_page(5, bytes(PAGE_SIZE))
    assert memory.get_page(5) == page  # set_page on a copy does not leak back
    assert snapshot.root() == region_root_with(0x9000, b"\x01")
