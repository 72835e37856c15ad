"""Commitments of tensors and models (docs/design.md "Commitments", docs/levels.md "Commitments").

- tensor commitment: the root of the 2^28-byte VM region holding the tensor's bytes (zero padded), so a node's
  output in the graph state, a tile state and the VM's OUTPUT region root are one and the same hash;
- slot tree: depth `slot_depth`, leaf i = commitment of tensor slot i, EMPTY_TENSOR where nothing is (yet);
- constantsRoot: the slot tree with only the constants filled in (S_0 is it with the input placed);
- node leaf: keccak256(abi.encode(NodeDef)); nodesRoot over the node leaves (zero padded);
- graphRoot = keccak256(abi.encode(nodesRoot, nodeCount, slotDepth, inputSlot, outputSlot));
- kernelSetRoot: depth-KERNEL_SET_DEPTH (5) tree over the kernel code roots, leaf `op_id` (zero where no op);
- anchor = keccak256(abi.encode(graphRoot, constantsRoot, kernelSetRoot, inputCommitment)) (docs/game.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
from eth_abi import encode

from opml.hashing import keccak
from opml.kernels import load_kernel
from opml.kernels.params import pack_params
from opml.kernels.vmstart import EMPTY_REGION
from opml.merkle import depth_for, merkle_proof, merkle_root
from opml.ml.model import Model
from opml.ml.ops import OPS, OpType
from opml.ml.vmparams import attribute_words
from opml.progress import track
from opml.vm import layout
from opml.vm.memory import region_root_of_bytes
from opml.vm.regiontree import TREE_BYTES, region_tree

from .abi_struct import AbiStruct, Bytes32, Uint, UintArray
from .tiling import DEFAULT_TILING, NodePlan, TilingPolicy, plan_model

TENSOR_LOG2 = layout.OUTPUT.log2_size  # every tensor region is 2^28 bytes; its root is a level-23 node
EMPTY_TENSOR = EMPTY_REGION
KERNEL_SET_DEPTH = 5  # 2^5 = 32 op kernels at most (ml.ops.OpType)
OP_IDS: dict[OpType, int] = {op: i for i, op in enumerate(OpType)}  # the leaf of each op's kernel


class CommitmentError(ValueError):
    """A model the levels cannot commit to (input/output count, kernel entry point, too many inputs)."""


def tensor_commitment(value: np.ndarray | bytes, persist: bool = False) -> bytes:
    """Root of the 2^28-byte region holding the tensor's C-order little-endian bytes. A big tensor's comes from its
    cached region tree (opml.vm.regiontree: hashed once per process, and once per machine with `persist`)."""
    data = np.ascontiguousarray(value).reshape(-1).view(np.uint8) if isinstance(value, np.ndarray) else bytes(value)
    if len(data) >= TREE_BYTES:
        return region_tree(data, TENSOR_LOG2, persist).root
    return region_root_of_bytes(bytes(data), TENSOR_LOG2)


def _abi(types: str, *values) -> bytes:  # noqa: ANN001
    return encode([types], [values]) if types.startswith("(") else encode(types.split(","), list(values))


@cache
def kernel_code_root(kernel: str) -> bytes:
    """Code-region root of `kernel`; CommitmentError unless it starts at the code base (the VM link assumes it)."""
    state = load_kernel(kernel)
    if state.pc != layout.CODE.base:
        raise CommitmentError(f"kernel {kernel!r} enters at {state.pc:#x}, the levels need {layout.CODE.base:#x}")
    return state.memory.region_root(layout.CODE.base, layout.CODE.log2_size)


def kernel_set() -> list[bytes]:
    """Leaf `op_id` = code root of that op's kernel."""
    return [kernel_code_root(OPS[op].kernel) for op in OpType]


def kernel_set_root() -> bytes:
    return merkle_root(kernel_set(), KERNEL_SET_DEPTH)


@dataclass(frozen=True)
class NodeDef(AbiStruct):
    """What the graph root says about node k (NodeDef in LevelsLib.sol); its `hash()` is node k's leaf."""

    op_id: Uint
    inputs: UintArray
    output: Uint
    attrs_hash: Bytes32
    tile_elems: Uint
    out_elems: Uint
    vm_depth: Uint

    @property
    def plan(self) -> NodePlan:
        return NodePlan(self.tile_elems, self.out_elems, self.vm_depth)


def node_attrs(model: Model, index: int) -> bytes:
    """The attribute words of node `index`'s kernel params (after the tile header), little-endian."""
    node = model.nodes[index]
    ins = [model.tensor_type(s) for s in node.inputs]
    return pack_params(0, 0, attribute_words(node.op, node.attrs, ins, model.tensor_type(node.output)))[8:]


def graph_root_of(nodes_root: bytes, node_count: int, slot_depth: int, input_slot: int, output_slot: int) -> bytes:
    return keccak(_abi("bytes32,uint256,uint256,uint256,uint256", nodes_root, node_count, slot_depth, input_slot,
                       output_slot))


def graph_context_of(nodes_root: bytes, node_count: int, slot_depth: int, kernels_root: bytes) -> bytes:
    """The graph level's context: what graph → tile links reopen."""
    return keccak(_abi("bytes32,uint256,uint256,bytes32", nodes_root, node_count, slot_depth, kernels_root))


def anchor_of(graph_root: bytes, constants_root: bytes, kernels_root: bytes, input_commitment: bytes) -> bytes:
    """The request anchor (docs/game.md)."""
    return keccak(_abi("bytes32,bytes32,bytes32,bytes32", graph_root, constants_root, kernels_root,
                       input_commitment))


class GraphCommitment:
    """The roots of a graph's nodes, constants, slot tree and kernel set, given its tiling plan (one NodePlan per
    node): what the graph, tile and VM levels play on. `input_slots` are the slots a graph trace's S_0 fills in
    (with the constants); how they and the outputs are bound into the registered roots is the subclass's: one
    input and one output (`ModelCommitment`) or a decode step's named slots (`opml.levels.llm_commitment`)."""

    input_slots: tuple[int, ...]

    def __init__(self, model: Model, plans: Sequence[NodePlan]) -> None:
        if len(plans) != len(model.nodes):
            raise CommitmentError(f"{len(plans)} node plans for {len(model.nodes)} nodes")
        for index, node in enumerate(model.nodes):
            if len(node.inputs) > layout.INPUT_COUNT:
                raise CommitmentError(f"node {index} reads {len(node.inputs)} inputs, the VM has {layout.INPUT_COUNT}")
        self.model = model
        self.plans = tuple(plans)
        self.input_slots = tuple(model.inputs)
        self.slot_depth = depth_for(len(model.tensors))
        self.node_depth = depth_for(len(model.nodes))

    @cached_property
    def constant_commitments(self) -> dict[int, bytes]:
        constants = track(list(self.model.constants.items()), f"commitments of {self.model.name}'s constants")
        return {slot: tensor_commitment(data, persist=True) for slot, data in constants}

    @cached_property
    def nodes(self) -> tuple[NodeDef, ...]:
        return tuple(
            NodeDef(OP_IDS[node.op], node.inputs, node.output, keccak(node_attrs(self.model, k)), plan.tile_elems,
                    plan.out_elems, plan.vm_depth)
            for k, (node, plan) in enumerate(zip(self.model.nodes, self.plans)))

    @cached_property
    def node_leaves(self) -> list[bytes]:
        return [node.hash() for node in self.nodes]

    @cached_property
    def nodes_root(self) -> bytes:
        return merkle_root(self.node_leaves, self.node_depth)

    def node_proof(self, k: int) -> list[bytes]:
        return merkle_proof(self.node_leaves, self.node_depth, k)

    @cached_property
    def kernels_root(self) -> bytes:
        return kernel_set_root()

    def kernel_proof(self, op_id: int) -> list[bytes]:
        return merkle_proof(kernel_set(), KERNEL_SET_DEPTH, op_id)

    def slot_leaves(self, commitments: Mapping[int, bytes]) -> list[bytes]:
        """Slot tree leaves: `commitments[slot]` where given, EMPTY_TENSOR elsewhere."""
        return [commitments.get(slot, EMPTY_TENSOR) for slot in range(len(self.model.tensors))]

    def slot_root(self, commitments: Mapping[int, bytes]) -> bytes:
        return merkle_root(self.slot_leaves(commitments), self.slot_depth, EMPTY_TENSOR)

    def slot_proof(self, commitments: Mapping[int, bytes], slot: int) -> list[bytes]:
        return merkle_proof(self.slot_leaves(commitments), self.slot_depth, slot, EMPTY_TENSOR)

    @cached_property
    def constants_root(self) -> bytes:
        return self.slot_root(self.constant_commitments)

    @cached_property
    def graph_context(self) -> bytes:
        return graph_context_of(self.nodes_root, len(self.nodes), self.slot_depth, self.kernels_root)

    graph_root: bytes  # the subclass's: the graph root binding its input and output slots

    @property
    def roots(self) -> tuple[bytes, bytes, bytes]:
        """(graphRoot, constantsRoot, kernelSetRoot), as registered in the ModelRegistry."""
        return self.graph_root, self.constants_root, self.kernels_root

    def anchor(self, input_commitment: bytes) -> bytes:
        return anchor_of(self.graph_root, self.constants_root, self.kernels_root, input_commitment)


class ModelCommitment(GraphCommitment):
    """Every root the levels commit an ML `model` to (one input, one output), given its tiling plan."""

    def __init__(self, model: Model, plans: Sequence[NodePlan]) -> None:
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise CommitmentError(f"model {model.name!r} has {len(model.inputs)} inputs and "
                                  f"{len(model.outputs)} outputs; a request carries exactly one of each")
        super().__init__(model, plans)
        self.input_slot = model.inputs[0]
        self.output_slot = model.outputs[0]

    @cached_property
    def graph_root(self) -> bytes:
        return graph_root_of(self.nodes_root, len(self.nodes), self.slot_depth, self.input_slot, self.output_slot)

    @property
    def io_bytes(self) -> tuple[int, int]:
        """(input bytes, output bytes): the exact sizes a request's input and a result's output must have, as
        `ModelRegistry.registerModelFile` records them (the tensor commitment is zero padded, so the chain checks
        the lengths themselves)."""
        return (self.model.tensor_type(self.input_slot).nbytes, self.model.tensor_type(self.output_slot).nbytes)


def commit_model(model: Model, tiling: TilingPolicy = DEFAULT_TILING) -> ModelCommitment:
    """The model's commitment with its tiling plan (deterministic: every party computes the same roots)."""
    return ModelCommitment(model, plan_model(model, tiling=tiling))
