"""The VM level's start and end as the tile → VM link computes them from roots alone (docs/levels.md):

initial memory root = the memory tree with CODE (kernel code root), PARAMS (tile header + attribute words),
INPUTS[i] (the node's input commitments), OUTPUT (the agreed tile state) and every other region zero;
initial state = that root, pc = CODE.base, nextPC = pc + 4, $sp = STACK_TOP, everything else zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from opml.hashing import keccak
from opml.kernels.params import pack_params
from opml.vm import layout
from opml.vm.elf import SP
from opml.vm.memory import TREE_DEPTH, ZERO_HASHES, region_root_of_bytes
from opml.vm.state import REG_COUNT, StateHeader, Status

from .commitments import TENSOR_LEVEL
from .merkle import fold

SMALL_LEVEL = layout.CODE.log2_size - 5  # CODE and PARAMS are level-15 nodes inside the level-23 node 0
OUTPUT_INDEX = layout.OUTPUT.base >> layout.OUTPUT.log2_size  # the OUTPUT region is level-23 node 8
TOP_LEAVES = 1 << (TREE_DEPTH - TENSOR_LEVEL)  # 16 level-23 nodes make up the whole memory


def tile_params(attrs: bytes, first: int, end: int) -> bytes:
    """The PARAMS region bytes of one tile: the tile header then the node's attribute words."""
    return pack_params(first, end) + attrs


def params_root(attrs: bytes, first: int, end: int) -> bytes:
    return region_root_of_bytes(tile_params(attrs, first, end), layout.PARAMS.log2_size)


def _low_region_root(code_root: bytes, params: bytes) -> bytes:
    """Root of [0, 2^28): CODE at level-15 index 1, PARAMS at index 2, the rest zero."""
    leaves = [ZERO_HASHES[SMALL_LEVEL]] * (1 << (TENSOR_LEVEL - SMALL_LEVEL))
    leaves[layout.CODE.base >> layout.CODE.log2_size] = code_root
    leaves[layout.PARAMS.base >> layout.PARAMS.log2_size] = params
    while len(leaves) > 1:
        leaves = [keccak(a + b) for a, b in zip(leaves[0::2], leaves[1::2])]
    return leaves[0]


def initial_memory_root(code_root: bytes, params: bytes, input_roots: Sequence[bytes], output_root: bytes) -> bytes:
    """The memory root of a kernel run's initial state, from the region roots."""
    nodes = [ZERO_HASHES[TENSOR_LEVEL]] * TOP_LEAVES
    nodes[0] = _low_region_root(code_root, params)
    for region, root in zip(layout.INPUTS, input_roots):
        nodes[region.base >> region.log2_size] = root
    nodes[OUTPUT_INDEX] = output_root
    while len(nodes) > 1:
        nodes = [keccak(a + b) for a, b in zip(nodes[0::2], nodes[1::2])]
    return nodes[0]


def initial_state_header(mem_root: bytes) -> StateHeader:
    regs = [0] * REG_COUNT
    regs[SP] = layout.STACK_TOP
    return StateHeader(mem_root, layout.CODE.base, layout.CODE.base + 4, 0, 0, 0, Status.RUNNING, 0, tuple(regs))


def initial_state_hash(code_root: bytes, params: bytes, input_roots: Sequence[bytes], output_root: bytes) -> bytes:
    return initial_state_header(initial_memory_root(code_root, params, input_roots, output_root)).hash()


def fold_output(output_root: bytes, siblings: Sequence[bytes]) -> bytes:
    """The memory root that an OUTPUT region root with these level-23..26 siblings (`opml.game.vm_trace.
    output_siblings`) hashes to."""
    return fold(output_root, OUTPUT_INDEX, siblings)
