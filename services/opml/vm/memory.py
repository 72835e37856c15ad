"""Sparse paged VM memory with the keccak Merkle tree of docs/vm.md.

Tree: leaves are the 2^27 aligned 32-byte chunks (raw, unhashed); node(h+1) = keccak(left ‖ right); the root
sits at level 27. A 4 KiB page is the subtree at level 7, so hashing splits in two caches:

* per page, the 127 inner nodes of its subtree (levels 1..7), recomputed when the page is dirty;
* above pages, one dict per level 7..27 holding only nodes that differ from nothing-written-yet
  (a missing node is the zero hash of its level).

`map_region` places big data (a tensor of tens of MB) without hashing or copying it: its pages are views of the
data and the nodes above them come from a tree hashed once (opml.vm.regiontree); only the pages a run touches
are then copied (on write) and rehashed.

Writes only mark pages dirty; `root()` (and everything that needs hashes) rehashes the dirty pages and the
paths above them. `copy()` shares page buffers copy-on-write, so snapshots cost O(pages), not O(bytes).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from opml.hashing import keccak

if TYPE_CHECKING:
    from opml.vm.regiontree import RegionTree

if sys.byteorder != "little":  # word views below read pages as native u32
    raise ImportError("opml.vm.memory needs a little-endian host")

TREE_DEPTH = 27  # levels of inner nodes above the 32-byte leaves; 2^27 leaves cover 4 GiB
LEAF_BYTES = 32
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_LEVEL = PAGE_SHIFT - 5  # a page is the subtree at level 7
ADDR_MASK = 0xFFFF_FFFF
PROOF_MASK_LIMIT = 1 << TREE_DEPTH  # mask bits 27..31 must be zero


def _zero_hashes() -> tuple[bytes, ...]:
    hashes = [bytes(32)]
    for _ in range(TREE_DEPTH):
        hashes.append(keccak(hashes[-1] + hashes[-1]))
    return tuple(hashes)


ZERO_HASHES: tuple[bytes, ...] = _zero_hashes()  # ZERO_HASHES[h] = root of an all-zero subtree at level h
EMPTY_ROOT = ZERO_HASHES[TREE_DEPTH]
_ZERO_PAGE = bytes(PAGE_SIZE)
BATCH_HASH_BYTES = 1 << 20  # from this size on a region root is hashed in compiled batches (opml.keccak_tree)


class VMMemoryError(Exception):
    """Base of the memory errors."""


class MemoryProofError(VMMemoryError):
    """A memory proof is malformed or does not verify against the expected root."""


class MemoryRangeError(VMMemoryError, ValueError):
    """An address, length or region is outside the 32-bit address space or misaligned."""


class UnhashableMemory(VMMemoryError):
    """A hash asked of a memory that holds data mapped without its tree (`Memory.map_region`)."""


# ---------------------------------------------------------------------------------------------------------------
# Page subtree hashing


def _page_levels(page: bytes | bytearray) -> list[list[bytes]]:
    """Inner nodes of a page's subtree: levels[h - 1] holds the 2^(7-h) nodes of level h, for h = 1..7."""
    if page == _ZERO_PAGE:
        return _ZERO_PAGE_LEVELS
    data = bytes(page)
    nodes = [keccak(data[i : i + 64]) for i in range(0, PAGE_SIZE, 64)]
    levels = [nodes]
    while len(nodes) > 1:
        nodes = [keccak(left + right) for left, right in zip(nodes[0::2], nodes[1::2])]
        levels.append(nodes)
    return levels


_ZERO_PAGE_LEVELS = [[ZERO_HASHES[h]] * (1 << (PAGE_LEVEL - h)) for h in range(1, PAGE_LEVEL + 1)]


def _combine_up(nodes: list[bytes], level: int, top: int) -> bytes:
    """Root at level `top` of a subtree whose leftmost nodes at `level` are `nodes` (the rest zero)."""
    while level < top:
        if len(nodes) % 2:
            nodes.append(ZERO_HASHES[level])
        nodes = [keccak(left + right) for left, right in zip(nodes[0::2], nodes[1::2])]
        level += 1
    return nodes[0]


def region_root_of_bytes(data: bytes, log2_size: int) -> bytes:
    """Root of an aligned 2^log2_size-byte region holding `data` at its base, zero padded.

    Equals `Memory().write_bytes(base, data)` followed by `region_root(base, log2_size)` for any aligned base.
    """
    _check_log2_size(log2_size)
    if len(data) > 1 << log2_size:
        raise MemoryRangeError(f"{len(data)} bytes do not fit a region of 2^{log2_size} bytes")
    if log2_size == 5:
        return bytes(data).ljust(32, b"\0")
    if not data:
        return ZERO_HASHES[log2_size - 5]
    if len(data) >= BATCH_HASH_BYTES:
        from opml.keccak_tree import subtree_root  # numba: imported by the callers that hash big data only

        return subtree_root(data, log2_size - 5)
    data = bytes(data)
    if len(data) % 64:
        data += bytes(64 - len(data) % 64)
    level1 = [keccak(data[i : i + 64]) for i in range(0, len(data), 64)]
    return _combine_up(level1, 1, log2_size - 5)


def _check_log2_size(log2_size: int) -> None:
    if not 5 <= log2_size <= 32:
        raise MemoryRangeError(f"region size 2^{log2_size} bytes is outside 2^5..2^32")


# ---------------------------------------------------------------------------------------------------------------
# Proofs (pure functions)


def _parse_proof(proof: bytes) -> tuple[bytes, list[bytes]]:
    """(leaf, siblings by level 0..26 with zero hashes filled in) from the compact encoding."""
    if len(proof) < 36:
        raise MemoryProofError(f"memory proof of {len(proof)} bytes is shorter than leaf + mask (36 bytes)")
    leaf = bytes(proof[:32])
    mask = int.from_bytes(proof[32:36], "big")
    if mask >= PROOF_MASK_LIMIT:
        raise MemoryProofError(f"memory proof mask {mask:#010x} sets bits above level 26")
    want = 36 + 32 * mask.bit_count()
    if len(proof) != want:
        raise MemoryProofError(f"memory proof is {len(proof)} bytes, its mask {mask:#010x} says {want}")
    siblings = []
    offset = 36
    for h in range(TREE_DEPTH):
        if mask >> h & 1:
            siblings.append(bytes(proof[offset : offset + 32]))
            offset += 32
        else:
            siblings.append(ZERO_HASHES[h])
    return leaf, siblings


def proof_length(proof_stream: bytes, offset: int = 0) -> int:
    """Byte length of the compact proof starting at `offset` of a concatenation of proofs."""
    if len(proof_stream) < offset + 36:
        raise MemoryProofError(f"proof data ends at {len(proof_stream)} bytes, a proof needs 36 from {offset}")
    mask = int.from_bytes(proof_stream[offset + 32 : offset + 36], "big")
    return 36 + 32 * mask.bit_count()


def _fold(addr: int, leaf: bytes, siblings: list[bytes]) -> bytes:
    index = (addr & ADDR_MASK) >> 5
    node = leaf
    for h in range(TREE_DEPTH):
        node = keccak(siblings[h] + node) if index >> h & 1 else keccak(node + siblings[h])
    return node


def verify_proof(root: bytes, addr: int, proof: bytes) -> bytes:
    """The 32-byte leaf containing `addr` if `proof` proves it under `root`; else MemoryProofError."""
    leaf, siblings = _parse_proof(proof)
    if _fold(addr, leaf, siblings) != root:
        raise MemoryProofError(f"memory proof for {addr & ADDR_MASK:#010x} does not verify against the root")
    return leaf


def root_after_write(addr: int, proof: bytes, new_leaf: bytes) -> bytes:
    """The root once the leaf containing `addr` becomes `new_leaf`, all siblings as in `proof`."""
    if len(new_leaf) != 32:
        raise MemoryProofError(f"a leaf is 32 bytes, got {len(new_leaf)}")
    _, siblings = _parse_proof(proof)
    return _fold(addr, bytes(new_leaf), siblings)


def encode_proof(leaf: bytes, siblings: list[bytes]) -> bytes:
    """Compact proof: leaf, mask of non-zero siblings, those siblings by increasing level."""
    mask = 0
    present = []
    for h, sibling in enumerate(siblings):
        if sibling != ZERO_HASHES[h]:
            mask |= 1 << h
            present.append(sibling)
    return leaf + mask.to_bytes(4, "big") + b"".join(present)


# ---------------------------------------------------------------------------------------------------------------
# Memory


class Memory:
    """Byte-addressed 4 GiB memory, all zero until written; sparse in 4 KiB pages; Merkleized on demand.

    Fast executors may use `_pages` (page index -> bytearray), `_words` (page index -> u32 view of the same page)
    for reads, and `_writable(idx)` to get a u32 view of a page that may be written in place (it is then
    already marked dirty). The dicts are mutated in place, never replaced, so callers may hold them.
    """

    __slots__ = ("_pages", "_words", "_owned", "_hot", "_dirty", "_page_nodes", "_upper", "_unhashed")

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}
        self._words: dict[int, memoryview] = {}
        self._owned: set[int] = set()  # pages this instance may mutate (not shared with a copy)
        self._hot: dict[int, memoryview] = {}  # owned pages already marked dirty: writable without bookkeeping
        self._dirty: set[int] = set()
        self._page_nodes: dict[int, list[list[bytes]]] = {}  # hashed pages: levels 1..7 of their subtree
        self._upper: list[dict[int, bytes]] = [{} for _ in range(TREE_DEPTH + 1)]  # levels 7..27 used
        self._unhashed = False  # data mapped without a tree (map_region): no hashes

    # -- page level -------------------------------------------------------------------------------------------

    def _writable(self, idx: int) -> memoryview:
        """u32 view of page `idx`, owned by this instance and marked dirty; creates the page if absent."""
        view = self._hot.get(idx)
        if view is not None:
            return view
        if idx not in self._owned:
            page = self._pages.get(idx)
            page = bytearray(page) if page is not None else bytearray(PAGE_SIZE)
            self._pages[idx] = page
            self._words[idx] = memoryview(page).cast("I")
            self._owned.add(idx)
        self._dirty.add(idx)
        view = self._words[idx]
        self._hot[idx] = view
        return view

    def page_indices(self) -> list[int]:
        """Indices (addr >> 12) of the pages that have ever been written, ascending."""
        return sorted(self._pages)

    def get_page(self, idx: int) -> bytes | None:
        """Copy of page `idx` (4096 bytes), or None if it was never written (all zero)."""
        page = self._pages.get(idx)
        return bytes(page) if page is not None else None

    def page_view(self, idx: int) -> memoryview | bytearray:
        """Page `idx` (4096 bytes) without a copy, for reading now (a later write may change or replace it);
        KeyError if it was never written."""
        return self._pages[idx]

    def set_page(self, idx: int, data: bytes) -> None:
        """Replace page `idx` with `data` (exactly 4096 bytes) and mark it dirty."""
        if not 0 <= idx < 1 << (32 - PAGE_SHIFT):
            raise MemoryRangeError(f"page index {idx} is outside the address space")
        if len(data) != PAGE_SIZE:
            raise MemoryRangeError(f"a page is {PAGE_SIZE} bytes, got {len(data)}")
        if idx in self._owned:
            self._writable(idx).obj[:] = data
            return
        page = bytearray(data)  # a fresh buffer: no need to copy the shared old one first
        self._pages[idx] = page
        self._words[idx] = memoryview(page).cast("I")
        self._owned.add(idx)
        self._writable(idx)

    # -- byte and word access ---------------------------------------------------------------------------------

    def read_byte(self, addr: int) -> int:
        page = self._pages.get((addr & ADDR_MASK) >> PAGE_SHIFT)
        return page[addr & (PAGE_SIZE - 1)] if page is not None else 0

    def write_byte(self, addr: int, value: int) -> None:
        addr &= ADDR_MASK
        self._writable(addr >> PAGE_SHIFT).obj[addr & (PAGE_SIZE - 1)] = value & 0xFF

    def read_word(self, addr: int) -> int:
        """Little-endian u32 at a word-aligned address."""
        _check_word_aligned(addr)
        words = self._words.get((addr & ADDR_MASK) >> PAGE_SHIFT)
        return words[(addr & (PAGE_SIZE - 1)) >> 2] if words is not None else 0

    def write_word(self, addr: int, value: int) -> None:
        """Store a little-endian u32 at a word-aligned address."""
        _check_word_aligned(addr)
        addr &= ADDR_MASK
        self._writable(addr >> PAGE_SHIFT)[(addr & (PAGE_SIZE - 1)) >> 2] = value & 0xFFFF_FFFF

    def read_bytes(self, addr: int, length: int) -> bytes:
        """`length` bytes from `addr` (must not wrap past the end of the address space)."""
        _check_span(addr, length)
        out = bytearray()
        while length > 0:
            offset = addr & (PAGE_SIZE - 1)
            take = min(length, PAGE_SIZE - offset)
            page = self._pages.get(addr >> PAGE_SHIFT)
            out += page[offset : offset + take] if page is not None else bytes(take)
            addr += take
            length -= take
        return bytes(out)

    def write_bytes(self, addr: int, data: bytes) -> None:
        """Store `data` at `addr` (must not wrap past the end of the address space)."""
        _check_span(addr, len(data))
        view = memoryview(bytes(data))
        while view:
            offset = addr & (PAGE_SIZE - 1)
            take = min(len(view), PAGE_SIZE - offset)
            self._writable(addr >> PAGE_SHIFT).obj[offset : offset + take] = view[:take]
            addr += take
            view = view[take:]

    # -- hashing ----------------------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Rehash dirty pages and the paths above them."""
        if self._unhashed:
            raise UnhashableMemory("this memory holds data mapped without its tree: it runs, it has no hashes")
        if not self._dirty:
            return
        upper = self._upper
        level_nodes = upper[PAGE_LEVEL]
        for idx in self._dirty:
            levels = _page_levels(self._pages[idx])
            self._page_nodes[idx] = levels
            level_nodes[idx] = levels[-1][0]
        changed = set(self._dirty)
        for h in range(PAGE_LEVEL + 1, TREE_DEPTH + 1):
            below, zero = upper[h - 1], ZERO_HASHES[h - 1]
            changed = {i >> 1 for i in changed}
            nodes = upper[h]
            for i in changed:
                nodes[i] = keccak(below.get(2 * i, zero) + below.get(2 * i + 1, zero))
        self._dirty.clear()
        self._hot.clear()

    def root(self) -> bytes:
        """Merkle root of the whole memory."""
        self._flush()
        return self._upper[TREE_DEPTH].get(0, EMPTY_ROOT)

    def _node(self, level: int, index: int) -> bytes:
        """Node at `level` (0..27) with `index`; hashes must be flushed."""
        if level >= PAGE_LEVEL:
            return self._upper[level].get(index, ZERO_HASHES[level])
        page_idx = index >> (PAGE_LEVEL - level)
        if level == 0:
            page = self._pages.get(page_idx)
            offset = (index << 5) & (PAGE_SIZE - 1)
            return bytes(page[offset : offset + 32]) if page is not None else ZERO_HASHES[0]
        levels = self._page_nodes.get(page_idx)
        if levels is None:
            page = self._pages.get(page_idx)
            if page is None:
                return ZERO_HASHES[level]
            levels = self._page_nodes[page_idx] = _page_levels(page)  # a mapped page, hashed on first need
        return levels[level - 1][index & ((1 << (PAGE_LEVEL - level)) - 1)]

    def region_root(self, base: int, log2_size: int) -> bytes:
        """Root of the aligned region [base, base + 2^log2_size): the node at level log2_size - 5."""
        _check_log2_size(log2_size)
        if base < 0 or base & ((1 << log2_size) - 1) or base > ADDR_MASK:
            raise MemoryRangeError(f"region base {base:#x} is not aligned to 2^{log2_size} bytes")
        self._flush()
        return self._node(log2_size - 5, base >> log2_size)

    def map_region(self, base: int, data: bytes | memoryview | np.ndarray, tree: RegionTree | None,
                   log2_size: int | None = None) -> None:
        """Place `data` at `base`, the start of the aligned region of 2^tree.log2_size bytes that `tree` describes
        (`opml.vm.regiontree`), without copying or hashing it. The region must be empty (never written).

        Contents, roots and proofs are then those of `write_bytes(base, data)`: the pages are read-only views of
        `data` until written (then copied, as after `copy()`), the nodes from the pages up to the region root are
        the tree's, and a page's own subtree is hashed only when a proof inside it is asked for. `data` must not
        change while this memory (or a copy of it) lives.

        Without a tree (`tree=None`, the region's `log2_size` given) the memory is for running only: its contents
        are right, and every hash of it (root, region root, proof) raises `UnhashableMemory` from then on.
        """
        raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) \
            else np.frombuffer(data, dtype=np.uint8)
        log2_size = tree.log2_size if tree is not None else log2_size
        if log2_size is None:
            raise MemoryRangeError("map_region without a tree needs the region's log2_size")
        _check_log2_size(log2_size)
        if base < 0 or base & ((1 << log2_size) - 1) or base > ADDR_MASK or len(raw) > 1 << log2_size:
            raise MemoryRangeError(f"{len(raw)} bytes at {base:#x} are not an aligned region of 2^{log2_size} bytes")
        if tree is not None and len(raw) != tree.size:
            raise MemoryRangeError(f"{len(raw)} bytes given for a region tree of {tree.size} bytes")
        first = base >> PAGE_SHIFT
        count = 1 << (log2_size - PAGE_SHIFT)
        if any(first <= idx < first + count for idx in self._pages) if len(self._pages) < count \
                else any(first + i in self._pages for i in range(count)):
            raise MemoryRangeError(f"region {base:#x} of 2^{log2_size} bytes is not empty")
        if tree is None:
            self._unhashed = True
        else:
            self._flush()
        for i in range(-(-len(raw) // PAGE_SIZE)):
            chunk = raw[i * PAGE_SIZE: (i + 1) * PAGE_SIZE]
            page = memoryview(chunk) if len(chunk) == PAGE_SIZE else memoryview(chunk.tobytes().ljust(PAGE_SIZE, b"\0"))
            self._pages[first + i] = page.toreadonly()
            self._words[first + i] = self._pages[first + i].cast("I")
        if tree is None:
            return
        top = log2_size - 5
        for j, nodes in enumerate(tree.levels):
            level, offset = PAGE_LEVEL + j, base >> (PAGE_SHIFT + j)
            self._upper[level].update((offset + i, node.tobytes()) for i, node in enumerate(nodes))
        index = base >> tree.log2_size
        for h in range(top + 1, TREE_DEPTH + 1):
            below, index = self._upper[h - 1], index >> 1
            self._upper[h][index] = keccak(below.get(2 * index, ZERO_HASHES[h - 1]) +
                                           below.get(2 * index + 1, ZERO_HASHES[h - 1]))

    def proof(self, addr: int) -> bytes:
        """Compact proof (leaf, mask, non-zero siblings) for the 32-byte chunk containing `addr`."""
        self._flush()
        index = (addr & ADDR_MASK) >> 5
        leaf = self._node(0, index)
        siblings = [self._node(h, (index >> h) ^ 1) for h in range(TREE_DEPTH)]
        return encode_proof(leaf, siblings)

    # -- snapshots --------------------------------------------------------------------------------------------

    def copy(self) -> Memory:
        """An independent memory with the same contents; pages are shared until either side writes them."""
        other = Memory.__new__(Memory)
        other._pages = dict(self._pages)
        other._words = dict(self._words)
        other._owned = set()
        other._hot = {}
        other._dirty = set(self._dirty)
        other._page_nodes = dict(self._page_nodes)
        other._upper = [dict(level) for level in self._upper]
        other._unhashed = self._unhashed
        self._owned.clear()  # our pages are shared now: the next write to each copies it
        self._hot.clear()
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Memory):
            return NotImplemented
        return self.root() == other.root()

    __hash__ = None  # mutable


def _check_word_aligned(addr: int) -> None:
    if addr & 3:
        raise MemoryRangeError(f"word access at {addr:#x} is not 4-byte aligned")


def _check_span(addr: int, length: int) -> None:
    if addr < 0 or length < 0 or addr + length > 1 << 32:
        raise MemoryRangeError(f"span of {length} bytes at {addr:#x} is outside the 4 GiB address space")
