"""Link proofs between the levels (docs/levels.md "Link checks"): what each `openLevel` carries, encoded as the
verifier contracts decode it (`abi.encode(Proof)`), and the same checks in Python (`verify`), returning
(subStart, subContext) or raising LinkError with the contract's error name.

  RequestGraphProof  request → graph   contracts/levels/RequestGraphLink.sol
  GraphTileProof     graph → tile      contracts/levels/GraphTileLink.sol
  TileVmProof        tile → VM         contracts/levels/TileVmLink.sol
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode

from opml.hashing import keccak
from opml.kernels.vmstart import fold_output, initial_state_hash, params_root
from opml.merkle import depth_for, fold
from opml.vm.state import STATE_SIZE

from .abi_struct import AbiStruct, Bytes, Bytes32, Bytes32Array, Bytes32Matrix, Uint
from .commitments import EMPTY_TENSOR, KERNEL_SET_DEPTH, NodeDef, anchor_of, graph_context_of, graph_root_of

MAX_INPUTS = 6
OUTPUT_PROOF_DEPTH = 4


class LinkError(ValueError):
    """A link proof the verifier contract would reject; `name` is the contract's custom error."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


def check_slot_proof(slot: int, depth: int, siblings: list[bytes]) -> None:
    if len(siblings) != depth:
        raise LinkError("ProofLength", f"{len(siblings)} siblings for a tree of depth {depth}")
    if slot >> depth:
        raise LinkError("SlotOutOfRange", f"slot {slot} is outside a slot tree of depth {depth}")


@dataclass(frozen=True)
class RequestGraphProof(AbiStruct):
    nodes_root: Bytes32
    node_count: Uint
    slot_depth: Uint
    input_slot: Uint
    output_slot: Uint
    constants_root: Bytes32
    kernels_root: Bytes32
    input_commitment: Bytes32
    input_siblings: Bytes32Array
    output_siblings: Bytes32Array

    def verify(self, context: bytes, index: int, pre: bytes, post: bytes, sub_end: bytes,
               sub_length: int) -> tuple[bytes, bytes]:
        graph_root = graph_root_of(self.nodes_root, self.node_count, self.slot_depth, self.input_slot,
                                   self.output_slot)
        anchor = anchor_of(graph_root, self.constants_root, self.kernels_root, self.input_commitment)
        if anchor != pre or anchor != context:
            raise LinkError("AnchorMismatch", "the proof's roots do not hash to the request anchor")
        if sub_length != self.node_count:
            raise LinkError("GraphLengthMismatch", f"graph trace of {sub_length} for {self.node_count} nodes")
        check_slot_proof(self.input_slot, self.slot_depth, list(self.input_siblings))
        check_slot_proof(self.output_slot, self.slot_depth, list(self.output_siblings))
        if fold(EMPTY_TENSOR, self.input_slot, self.input_siblings) != self.constants_root:
            raise LinkError("InputSlotNotEmpty", f"slot {self.input_slot} is not empty in the constants tree")
        if fold(post, self.output_slot, self.output_siblings) != sub_end:
            raise LinkError("OutputNotInEndState", "the output commitment is not in the graph's end state")
        start = fold(self.input_commitment, self.input_slot, self.input_siblings)
        return start, graph_context_of(self.nodes_root, self.node_count, self.slot_depth, self.kernels_root)


@dataclass(frozen=True)
class GraphTileProof(AbiStruct):
    nodes_root: Bytes32
    node_count: Uint
    slot_depth: Uint
    kernels_root: Bytes32
    node: NodeDef
    node_siblings: Bytes32Array
    code_root: Bytes32
    kernel_siblings: Bytes32Array
    input_roots: Bytes32Array
    input_siblings: Bytes32Matrix
    output_siblings: Bytes32Array

    def verify(self, context: bytes, index: int, pre: bytes, post: bytes, sub_end: bytes,
               sub_length: int) -> tuple[bytes, bytes]:
        expected = graph_context_of(self.nodes_root, self.node_count, self.slot_depth, self.kernels_root)
        if expected != context:
            raise LinkError("ContextMismatch", "the proof's graph roots do not hash to the level's context")
        self._check_node(index)
        self._check_inputs(pre)
        node = self.node
        check_slot_proof(node.output, self.slot_depth, list(self.output_siblings))
        if fold(EMPTY_TENSOR, node.output, self.output_siblings) != pre:
            raise LinkError("OutputSlotNotEmpty", f"output slot {node.output} is not empty in the agreed state")
        if fold(sub_end, node.output, self.output_siblings) != post:
            raise LinkError("TileEndMismatch", "the tile trace's end does not give the claimed graph state")
        if node.tile_elems == 0 or node.out_elems == 0:
            raise LinkError("BadTiling", f"{node.tile_elems} elements per tile of {node.out_elems}")
        if sub_length != node.plan.tile_count:
            raise LinkError("TileCountMismatch", f"tile trace of {sub_length}, the node has {node.plan.tile_count}")
        return EMPTY_TENSOR, tile_context_of(self.code_root, node.attrs_hash, self.input_roots, node.tile_elems,
                                             node.out_elems, node.vm_depth)

    def _check_node(self, index: int) -> None:
        if index >= self.node_count:
            raise LinkError("NodeIndexOutOfRange", f"node {index} of {self.node_count}")
        depth = depth_for(self.node_count)
        if len(self.node_siblings) != depth:
            raise LinkError("ProofLength", f"{len(self.node_siblings)} siblings for a node tree of depth {depth}")
        if fold(self.node.hash(), index, self.node_siblings) != self.nodes_root:
            raise LinkError("NodeNotInGraph", f"node {index} is not in the graph")
        if len(self.kernel_siblings) != KERNEL_SET_DEPTH:
            raise LinkError("ProofLength", f"{len(self.kernel_siblings)} siblings for the kernel set")
        if self.node.op_id >> KERNEL_SET_DEPTH or fold(self.code_root, self.node.op_id,
                                                       self.kernel_siblings) != self.kernels_root:
            raise LinkError("KernelNotInSet", f"op {self.node.op_id}")

    def _check_inputs(self, pre: bytes) -> None:
        count = len(self.node.inputs)
        if count > MAX_INPUTS or len(self.input_roots) != count or len(self.input_siblings) != count:
            raise LinkError("InputCountMismatch", f"{count} inputs, {len(self.input_roots)} roots")
        for position, (slot, root, siblings) in enumerate(zip(self.node.inputs, self.input_roots,
                                                              self.input_siblings)):
            check_slot_proof(slot, self.slot_depth, list(siblings))
            if fold(root, slot, siblings) != pre:
                raise LinkError("InputNotInState", f"input {position} (slot {slot}) is not in the agreed state")


def tile_context_of(code_root: bytes, attrs_hash: bytes, input_roots, tile_elems: int, out_elems: int,  # noqa: ANN001
                    vm_depth: int) -> bytes:
    """The tile level's context: what the tile → VM link reopens."""
    return keccak(encode(["bytes32", "bytes32", "bytes32[]", "uint256", "uint256", "uint256"],
                         [code_root, attrs_hash, list(input_roots), tile_elems, out_elems, vm_depth]))


@dataclass(frozen=True)
class TileVmProof(AbiStruct):
    code_root: Bytes32
    attrs: Bytes
    input_roots: Bytes32Array
    tile_elems: Uint
    out_elems: Uint
    vm_depth: Uint
    final_state: Bytes
    output_siblings: Bytes32Array

    def verify(self, context: bytes, index: int, pre: bytes, post: bytes, sub_end: bytes,
               sub_length: int) -> tuple[bytes, bytes]:
        expected = tile_context_of(self.code_root, keccak(self.attrs), self.input_roots, self.tile_elems,
                                   self.out_elems, self.vm_depth)
        if expected != context:
            raise LinkError("ContextMismatch", "the proof's tile data does not hash to the level's context")
        tiles = -(-self.out_elems // self.tile_elems) if self.tile_elems else 0
        if index >= tiles:
            raise LinkError("TileIndexOutOfRange", f"tile {index} of {tiles}")
        if self.vm_depth >= 64 or sub_length != 1 << self.vm_depth:
            raise LinkError("VmLengthMismatch", f"VM trace of {sub_length}, the node says 2^{self.vm_depth}")
        if len(self.input_roots) > MAX_INPUTS:
            raise LinkError("InputCountMismatch", f"{len(self.input_roots)} input roots")
        first = index * self.tile_elems
        end = min(first + self.tile_elems, self.out_elems)
        start = initial_state_hash(self.code_root, params_root(self.attrs, first, end), self.input_roots, pre)
        self._check_final(post, sub_end)
        return start, keccak(encode(["bytes32", "uint256"], [context, index]))

    def _check_final(self, post: bytes, sub_end: bytes) -> None:
        state = self.final_state
        if len(state) != STATE_SIZE:
            raise LinkError("BadFinalState", f"a packed state is {STATE_SIZE} bytes, got {len(state)}")
        if keccak(state) != sub_end:
            raise LinkError("FinalStateMismatch", "the final state does not hash to the claimed VM end")
        if state[56] != 1 or state[57] != 0:
            raise LinkError("VmDidNotExit", f"status {state[56]}, exit code {state[57]}")
        if len(self.output_siblings) != OUTPUT_PROOF_DEPTH:
            raise LinkError("ProofLength", f"{len(self.output_siblings)} OUTPUT siblings")
        if fold_output(post, self.output_siblings) != state[:32]:
            raise LinkError("OutputRootMismatch", "the final OUTPUT region is not the claimed tile state")


LinkProof = RequestGraphProof | GraphTileProof | TileVmProof
