"""A kernel run's start and end as the link verifiers see them, from region roots alone: the one Python twin of
`contracts/VmMemoryTree.sol`, used by the single-kernel VM level (`opml.levels.kernel_level`, VmCommitment /
VmLinkVerifier) and by the ML tile → VM link (docs/levels.md).

initial memory root = the memory tree with CODE (kernel code root), PARAMS, INPUTS[i] and OUTPUT at their places
and every other region zero (a single-kernel request starts with an empty OUTPUT, a tile run with the agreed tile
state there); initial state = that root, pc = CODE.base, nextPC = pc + 4, $sp = STACK_TOP, everything else zero.
The end: the OUTPUT region root with its siblings at levels 23..26 folds to the final memory root.
"""

from __future__ import annotations

from collections.abc import Sequence

from opml.kernels.params import pack_params
from opml.merkle import fold, merkle_root
from opml.vm import layout
from opml.vm.elf import SP
from opml.vm.memory import TREE_DEPTH, ZERO_HASHES, region_root_of_bytes
from opml.vm.state import REG_COUNT, StateHeader, Status, VMState

TENSOR_LEVEL = layout.OUTPUT.log2_size - 5  # a tensor region (inputs, output) is a level-23 node
SMALL_LEVEL = layout.CODE.log2_size - 5  # CODE and PARAMS are level-15 nodes inside the level-23 node 0
EMPTY_REGION = ZERO_HASHES[TENSOR_LEVEL]
OUTPUT_INDEX = layout.OUTPUT.base >> layout.OUTPUT.log2_size  # the OUTPUT region is level-23 node 8
TOP_LEAVES = 1 << (TREE_DEPTH - TENSOR_LEVEL)  # 16 level-23 nodes make up the whole memory


def tile_params(attrs: bytes, first: int, end: int) -> bytes:
    """The PARAMS region bytes of one tile: the tile header then the node's attribute words."""
    return pack_params(first, end) + attrs


def params_root(attrs: bytes, first: int, end: int) -> bytes:
    return region_root_of_bytes(tile_params(attrs, first, end), layout.PARAMS.log2_size)


def _low_region_root(code_root: bytes, params: bytes) -> bytes:
    """Root of [0, 2^28): CODE at level-15 index 1, PARAMS at index 2, the rest zero."""
    leaves = {layout.CODE.base >> layout.CODE.log2_size: code_root,
              layout.PARAMS.base >> layout.PARAMS.log2_size: params}
    width = 1 << (TENSOR_LEVEL - SMALL_LEVEL)
    return merkle_root([leaves.get(i, ZERO_HASHES[SMALL_LEVEL]) for i in range(width)], TENSOR_LEVEL - SMALL_LEVEL)


def initial_memory_root(code_root: bytes, params: bytes, input_roots: Sequence[bytes],
                        output_root: bytes = EMPTY_REGION) -> bytes:
    """The memory root of a kernel run's initial state from its region roots (`params` is the PARAMS root)."""
    if len(input_roots) > layout.INPUT_COUNT:
        raise ValueError(f"{len(input_roots)} inputs, the memory map has {layout.INPUT_COUNT} input regions")
    nodes = [EMPTY_REGION] * TOP_LEAVES
    nodes[0] = _low_region_root(code_root, params)
    for region, root in zip(layout.INPUTS, input_roots):
        nodes[region.base >> region.log2_size] = root
    nodes[OUTPUT_INDEX] = output_root
    return merkle_root(nodes, TREE_DEPTH - TENSOR_LEVEL)


def initial_state_header(mem_root: bytes) -> StateHeader:
    regs = [0] * REG_COUNT
    regs[SP] = layout.STACK_TOP
    return StateHeader(mem_root, layout.CODE.base, layout.CODE.base + 4, 0, 0, 0, Status.RUNNING, 0, tuple(regs))


def initial_state_hash(code_root: bytes, params: bytes, input_roots: Sequence[bytes],
                       output_root: bytes = EMPTY_REGION) -> bytes:
    """keccak of the packed state the ELF loader leaves for these region roots."""
    return initial_state_header(initial_memory_root(code_root, params, input_roots, output_root)).hash()


def output_siblings(state: VMState) -> list[bytes]:
    """The memory-tree siblings of the OUTPUT region at levels 23..26, bottom up."""
    siblings = []
    for j in range(TREE_DEPTH - TENSOR_LEVEL):
        log2 = layout.OUTPUT.log2_size + j
        siblings.append(state.memory.region_root(((OUTPUT_INDEX >> j) ^ 1) << log2, log2))
    return siblings


def fold_output(output_root: bytes, siblings: Sequence[bytes]) -> bytes:
    """The memory root that an OUTPUT region root with these level-23..26 siblings (`output_siblings`) hashes to."""
    return fold(output_root, OUTPUT_INDEX, siblings)
