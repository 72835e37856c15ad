"""Big inputs placed lazily: the batched keccak tree, cached region trees, and `Memory.map_region` against eager
writes — contents, roots, region roots and proofs equal after random writes, copies included —, the fast executor
loading pages on first touch, and a tile of a FullyConnected node whose VM trace is the same from either memory."""

from __future__ import annotations

import numpy as np
import pytest

from opml.hashing import keccak
from opml.keccak_tree import keccak64, subtree_root, tree_levels
from opml.kernels import load_kernel
from opml.kernels.mapped import load_kernel_mapped
from opml.kernels.vmstart import tile_params
from opml.levels.commitments import commit_model, tensor_commitment
from opml.levels.tiling import TilingPolicy
from opml.levels.request_level import RequestLevel
from opml.levels.vm_level import VmLevel
from opml.ml.model import Model, Node, TensorSpec
from opml.vm import layout
from opml.vm.fast import SLOTS_USED, FastMachine
from opml.vm.memory import Memory, MemoryRangeError, UnhashableMemory, region_root_of_bytes, verify_proof
from opml.vm.regiontree import TREE_BYTES, TreeCache, compute_region_tree, page_roots, region_tree

RNG_SEED = 1234


def _bytes(rng: np.random.Generator, n: int) -> bytes:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def test_batched_keccak_equals_keccak() -> None:
    rng = np.random.default_rng(RNG_SEED)
    rows = rng.integers(0, 256, (300, 64), dtype=np.uint8)
    rows[0] = 0
    rows[1] = 255
    out = keccak64(rows)
    assert [out[i].tobytes() for i in range(len(rows))] == [keccak(r.tobytes()) for r in rows]


@pytest.mark.parametrize("size", [0, 1, 31, 64, 100, 4096, 4097, 70_001])
def test_subtree_root_equals_memory_region_root(size: int) -> None:
    data = _bytes(np.random.default_rng(size), size)
    memory = Memory()
    memory.write_bytes(layout.INPUTS[1].base, data)
    for log2 in (17, 28):
        want = memory.region_root(layout.INPUTS[1].base, log2)
        assert subtree_root(data, log2 - 5) == want
        assert region_root_of_bytes(data, log2) == want


def test_tree_levels_are_the_memory_nodes() -> None:
    data = _bytes(np.random.default_rng(3), 3 * 4096 + 500)
    memory = Memory()
    memory.write_bytes(0, data)
    levels = tree_levels(data, 9)
    for h in (1, 5, 7, 9):
        assert [n.tobytes() for n in levels[h]] == [memory.region_root(i << (h + 5), h + 5)
                                                    for i in range(len(levels[h]))]


def test_region_tree_root_and_page_roots() -> None:
    data = _bytes(np.random.default_rng(4), 5 * 4096 + 17)
    tree = compute_region_tree(data, 28)
    assert tree.root == region_root_of_bytes(data, 28)
    assert tree.page_count == 6 and len(tree.levels) == 28 - 12 + 1
    assert page_roots(data)[5].tobytes() == region_root_of_bytes(data[5 * 4096:], 12)


def test_tree_cache_persists_page_roots_and_ignores_a_bad_file(tmp_path) -> None:  # noqa: ANN001
    data = np.random.default_rng(5).integers(-128, 128, 3 * 4096 + 9, dtype=np.int8)
    first = TreeCache(tmp_path).tree(data, 28, persist=True)
    files = list(tmp_path.glob("*.pages"))
    assert len(files) == 1 and files[0].stat().st_size == 4 * 32
    again = TreeCache(tmp_path).tree(data, 28)  # a fresh process: read from disk
    assert again.root == first.root == region_root_of_bytes(data.tobytes(), 28)
    assert all(np.array_equal(a, b) for a, b in zip(first.levels, again.levels))
    files[0].write_bytes(b"\0" * 40)  # truncated / foreign: hashed again
    assert TreeCache(tmp_path).tree(data, 28).root == first.root
    assert TreeCache(None).tree(data, 28, persist=True).root == first.root  # no directory: memory only


def _memories(rng: np.random.Generator) -> tuple[Memory, Memory, list[tuple[int, bytes]]]:
    """(eager, mapped) memories with two big inputs and some small writes, and the placed (base, data)."""
    placed = [(layout.INPUTS[0].base, _bytes(rng, 40 * 4096 + 123)), (layout.INPUTS[3].base, _bytes(rng, 20_000))]
    eager, mapped = Memory(), Memory()
    for memory in (eager, mapped):
        memory.write_bytes(layout.CODE.base, b"code" * 100)
        memory.write_word(layout.STACK_TOP, 7)
    for base, data in placed:
        eager.write_bytes(base, data)
        mapped.map_region(base, data, compute_region_tree(data, 28))
    return eager, mapped, placed


def _assert_same(eager: Memory, mapped: Memory, addresses: list[int]) -> None:
    assert mapped.root() == eager.root()
    for region in layout.ALL:
        assert mapped.region_root(region.base, region.log2_size) == eager.region_root(region.base, region.log2_size)
    for addr in addresses:
        assert mapped.proof(addr) == eager.proof(addr), hex(addr)
        assert mapped.read_bytes(addr, 40) == eager.read_bytes(addr, 40)
        assert verify_proof(mapped.root(), addr, mapped.proof(addr)) == mapped.read_bytes(addr & ~31, 32)


def test_mapped_memory_equals_eager_memory_under_random_writes_and_copies() -> None:
    rng = np.random.default_rng(RNG_SEED)
    eager, mapped, placed = _memories(rng)
    inside = [base + int(rng.integers(0, len(data))) for base, data in placed for _ in range(6)]
    _assert_same(eager, mapped, inside + [layout.CODE.base, layout.STACK_TOP, layout.INPUTS[0].base + 41 * 4096])
    snapshot_eager, snapshot_mapped = eager.copy(), mapped.copy()
    for _ in range(40):
        addr = int(rng.choice(inside)) + int(rng.integers(-64, 64))
        value = _bytes(rng, int(rng.integers(1, 9)))
        eager.write_bytes(addr, value)
        mapped.write_bytes(addr, value)
        if rng.random() < 0.3:
            word = addr & ~3
            assert mapped.read_word(word) == eager.read_word(word)
    _assert_same(eager, mapped, inside)
    _assert_same(snapshot_eager, snapshot_mapped, inside)  # the copies kept the contents before the writes
    assert snapshot_mapped.root() != mapped.root()
    assert bytes(placed[0][1][:16]) == snapshot_mapped.read_bytes(placed[0][0], 16)  # the data was never written


def test_map_region_refuses_a_used_region_or_a_wrong_tree() -> None:
    data = bytes(range(256)) * 300
    memory = Memory()
    memory.write_byte(layout.INPUTS[0].base + 5, 1)
    with pytest.raises(MemoryRangeError, match="not empty"):
        memory.map_region(layout.INPUTS[0].base, data, compute_region_tree(data, 28))
    with pytest.raises(MemoryRangeError, match="bytes given"):
        memory.map_region(layout.INPUTS[1].base, data[:-1], compute_region_tree(data, 28))
    with pytest.raises(MemoryRangeError, match="aligned"):
        memory.map_region(layout.INPUTS[1].base + 4096, data, compute_region_tree(data, 28))


def _fc_model(n: int, k: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    tensors = [TensorSpec("x", "int8", (1, k)), TensorSpec("w", "int8", (n, k), constant=True),
               TensorSpec("b", "int32", (n,), constant=True), TensorSpec("y", "int32", (1, n))]
    constants = {1: rng.integers(-127, 128, (n, k), dtype=np.int8), 2: rng.integers(-99, 99, n, dtype=np.int32)}
    return Model("fc", tensors, [0], [3], [Node.make("FullyConnected", [0, 1, 2], 3)], constants).validate()


def test_a_tile_of_a_big_matmul_has_the_same_vm_trace_mapped_or_written() -> None:
    model = _fc_model(160, 512, seed=2)  # an 80 KiB weight: mapped
    assert model.constants[1].nbytes >= TREE_BYTES
    commitment = commit_model(model, TilingPolicy(max_tiles=8))
    x = np.random.default_rng(3).integers(-127, 128, (1, 512), dtype=np.int8)
    tiles = RequestLevel(commitment, x).graph.tile_level(0)
    t = 5
    lazy = tiles.vm_level(t)
    first, end = tiles.plan.tile(t)
    params = tiles.claim.attrs
    inputs = [np.ascontiguousarray(v).tobytes() for v in tiles.claim.inputs]
    eager_state = load_kernel(tiles.claim.kernel, params=tile_params(params, first, end), inputs=inputs,
                              output=tiles.tile_bytes(t))
    assert load_kernel_mapped(tiles.claim.kernel, params=tile_params(params, first, end), inputs=tiles.claim.inputs,
                              output=tiles.tile_bytes(t)).hash() == eager_state.hash()
    eager = VmLevel.run(eager_state, lazy.length)
    for i in sorted({0, 1, 77, lazy.final_step // 2, lazy.final_step - 1, lazy.final_step, lazy.length}):
        assert lazy.root_at(i) == eager.root_at(i), i
    assert lazy.step_witness(lazy.final_step // 2) == eager.step_witness(lazy.final_step // 2)
    assert tiles.input_roots[1] == tensor_commitment(model.constants[1]) == region_tree(model.constants[1], 28).root


def test_a_tile_run_loads_only_its_weight_rows() -> None:
    """FullyConnected tile [first, end) reads rows first..end-1 of the weight: the fast executor, loading pages
    on first touch, copies exactly the pages of those rows from the mapped weight (and computes the eager result)."""
    model = _fc_model(256, 1024, seed=4)  # 256 KiB of weight, a row per 1 KiB
    commitment = commit_model(model, TilingPolicy(max_tiles=16))
    x = np.random.default_rng(5).integers(-127, 128, (1, 1024), dtype=np.int8)
    tiles = RequestLevel(commitment, x).graph.tile_level(0)
    t = 9
    first, end = tiles.plan.tile(t)
    state = load_kernel_mapped(tiles.claim.kernel, params=tile_params(tiles.claim.attrs, first, end),
                               inputs=tiles.claim.inputs, output=tiles.tile_bytes(t))
    machine = FastMachine(state)
    machine.run()
    loaded = {int(p) for p in machine.slot_page[1:machine.ctl[SLOTS_USED]]}
    base = layout.INPUTS[1].base >> 12
    weight_pages = {p - base for p in loaded if base <= p < base + (256 * 1024 >> 12)}
    assert weight_pages == set(range(first * 1024 >> 12, (end * 1024 - 1 >> 12) + 1))
    machine.sync_to(state)
    assert state.memory.region_root(layout.OUTPUT.base, 28) == tiles.root_at(t + 1)


def test_a_memory_mapped_without_a_tree_runs_but_refuses_every_hash() -> None:
    data = bytes(range(256)) * 300
    memory = Memory()
    memory.map_region(layout.INPUTS[2].base, data, None, 28)
    assert memory.read_bytes(layout.INPUTS[2].base + 1000, 300) == data[1000:1300]
    copy = memory.copy()
    for hashing in (memory.root, copy.root, lambda: memory.proof(0), lambda: memory.region_root(0, 28)):
        with pytest.raises(UnhashableMemory):
            hashing()
    with pytest.raises(MemoryRangeError, match="log2_size"):
        Memory().map_region(layout.INPUTS[2].base, data, None)
