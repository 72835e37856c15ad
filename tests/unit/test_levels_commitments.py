"""Commitments of tensors and models (docs/levels.md): Merkle trees, tensor commitments equal to VM region roots,
the VM's initial state from region roots alone, and the model's roots. Also defines the small single-output CNN
the levels' unit tests share (`tiny_cnn`, `tiny_commitment`)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from eth_abi import encode

from test_ml_model import image, small_cnn

from opml.hashing import keccak
from opml.kernels import load_kernel
from opml.levels.commitments import EMPTY_TENSOR, OP_IDS, CommitmentError, ModelCommitment, \
    kernel_code_root, kernel_set_root, tensor_commitment
from opml.kernels.vmstart import fold_output, initial_state_hash, output_siblings, params_root, tile_params
from opml.levels.tiling import NodePlan, TilingError, TilingPolicy, plan_model, tile_elems_for, vm_depth_for
from opml.merkle import MerkleError, depth_for, fold, merkle_proof, merkle_root
from opml.ml import Model
from opml.ml.ops import OPS
from opml.vm import layout
from opml.vm.memory import Memory
from opml.vm.state import VMState


def tiny_cnn(seed: int = 0) -> Model:
    """test_ml_model's small CNN with its label as the only output (a request carries one output)."""
    model = small_cnn(seed)
    return Model("tiny-cnn", model.tensors, model.inputs, [model.nodes[-1].output], model.nodes,
                 model.constants).validate()


def tiny_image(seed: int = 1) -> np.ndarray:
    return image(seed)


@cache
def tiny_commitment(max_tiles: int = 4) -> ModelCommitment:
    model = tiny_cnn()
    return ModelCommitment(model, plan_model(model, tiling=TilingPolicy(max_tiles=max_tiles)))


# -- Merkle trees ---------------------------------------------------------------------------------------------
def test_depth_for() -> None:
    assert [depth_for(n) for n in (1, 2, 3, 4, 5, 16, 17)] == [0, 1, 2, 2, 3, 4, 5]
    with pytest.raises(MerkleError):
        depth_for(0)


@pytest.mark.parametrize("count, depth", [(1, 0), (3, 2), (5, 3), (8, 3), (9, 5)])
def test_merkle_proofs_fold_to_the_root(count: int, depth: int) -> None:
    leaves = [keccak(bytes([i])) for i in range(count)]
    pad = keccak(b"pad")
    root = merkle_root(leaves, depth, pad)
    for index in range(1 << depth):
        siblings = merkle_proof(leaves, depth, index, pad)
        leaf = leaves[index] if index < count else pad
        assert len(siblings) == depth and fold(leaf, index, siblings) == root
        if depth:
            assert fold(keccak(b"other"), index, siblings) != root
    with pytest.raises(MerkleError):
        merkle_proof(leaves, depth, 1 << depth)
    with pytest.raises(MerkleError):
        merkle_root(leaves * 64, depth)


# -- tensors and the VM start ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, shape", [("int8", (0,)), ("int8", (1, 28, 28)), ("int32", (3, 70)), ("int8", (5000,))])
def test_tensor_commitment_is_the_vm_region_root(dtype: str, shape: tuple[int, ...]) -> None:
    value = np.random.default_rng(3).integers(-100, 100, shape).astype(dtype)
    for region in (layout.OUTPUT, layout.INPUTS[0], layout.INPUTS[5]):
        memory = Memory()
        memory.write_bytes(region.base, value.tobytes())
        memory.write_bytes(region.end, b"\x01")  # the next region does not leak into this one's root
        assert tensor_commitment(value) == memory.region_root(region.base, region.log2_size)
    assert tensor_commitment(value) == tensor_commitment(value.tobytes())
    assert (tensor_commitment(value) == EMPTY_TENSOR) == (not value.any())


@pytest.mark.parametrize("kernel, inputs", [("relu", 1), ("conv2d", 3), ("add", 2)])
def test_initial_state_hash_from_region_roots(kernel: str, inputs: int) -> None:
    rng = np.random.default_rng(inputs)
    datas = [rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8).tobytes() for _ in range(inputs)]
    output = rng.integers(0, 256, 700, dtype=np.uint8).tobytes()
    attrs = rng.integers(0, 256, 4 * 9, dtype=np.uint8).tobytes()
    state = load_kernel(kernel, params=tile_params(attrs, 5, 17), inputs=datas, output=output)
    from_roots = initial_state_hash(kernel_code_root(kernel), params_root(attrs, 5, 17),
                                    [tensor_commitment(d) for d in datas], tensor_commitment(output))
    assert from_roots == state.hash()
    assert initial_state_hash(kernel_code_root(kernel), params_root(attrs, 5, 18),
                              [tensor_commitment(d) for d in datas], tensor_commitment(output)) != state.hash()


def test_output_region_root_is_proved_by_four_siblings() -> None:
    state = VMState()
    memory = state.memory
    for address in (0x10_0000, 0x1000_0000, layout.OUTPUT.base + 64, 0x9000_0000, layout.STACK.base + 8):
        memory.write_bytes(address, b"\x05\x06")
    siblings = output_siblings(state)
    output_root = memory.region_root(layout.OUTPUT.base, layout.OUTPUT.log2_size)
    assert len(siblings) == 4 and fold_output(output_root, siblings) == memory.root()
    assert fold_output(EMPTY_TENSOR, siblings) != memory.root()


# -- models ---------------------------------------------------------------------------------------------------
def test_kernel_set_holds_every_op_kernel() -> None:
    c = tiny_commitment()
    for op, op_id in OP_IDS.items():
        code = kernel_code_root(OPS[op].kernel)
        assert fold(code, op_id, c.kernel_proof(op_id)) == c.kernels_root == kernel_set_root()


def test_start_state_is_the_constants_tree_with_the_input_placed() -> None:
    c, x = tiny_commitment(), tiny_image()
    placed = {c.input_slot: tensor_commitment(x), **c.constant_commitments}
    constants_leaves = c.slot_leaves(c.constant_commitments)
    assert constants_leaves[c.input_slot] == constants_leaves[c.output_slot] == EMPTY_TENSOR
    siblings = c.slot_proof(c.constant_commitments, c.input_slot)
    assert fold(EMPTY_TENSOR, c.input_slot, siblings) == c.constants_root
    assert fold(tensor_commitment(x), c.input_slot, siblings) == c.slot_root(placed)
    assert c.slot_depth == 4 and c.node_depth == 3


def test_roots_and_anchor_follow_their_formulas() -> None:
    c = tiny_commitment()
    assert c.graph_root == keccak(encode(["bytes32"] + ["uint256"] * 4,
                                         [c.nodes_root, len(c.nodes), c.slot_depth, c.input_slot, c.output_slot]))
    x = tensor_commitment(tiny_image())
    assert c.anchor(x) == keccak(encode(["bytes32"] * 4, [*c.roots, x]))
    for k, node in enumerate(c.nodes):
        assert fold(node.hash(), k, c.node_proof(k)) == c.nodes_root
        fields = (node.op_id, list(node.inputs), node.output, node.attrs_hash, node.tile_elems, node.out_elems,
                  node.vm_depth)
        assert node.hash() == keccak(encode(["(uint256,uint256[],uint256,bytes32,uint256,uint256,uint256)"], [fields]))


def test_graph_root_binds_attributes_and_tiling() -> None:
    model, base = tiny_cnn(), tiny_commitment()
    node = model.nodes[1]
    changed = replace(node, attrs=node.attrs.model_copy(update={"shifts": (6, 7, 9)}))
    other = replace(model, nodes=[*model.nodes[:1], changed, *model.nodes[2:]])
    assert ModelCommitment(other, base.plans).graph_root != base.graph_root
    plans = list(base.plans)
    plans[0] = replace(plans[0], tile_elems=plans[0].tile_elems + 1)
    assert ModelCommitment(model, plans).graph_root != base.graph_root
    assert ModelCommitment(model, base.plans).graph_root == base.graph_root


def test_models_the_levels_cannot_commit_to_are_rejected() -> None:
    model = tiny_cnn()
    with pytest.raises(CommitmentError, match="2 outputs"):
        ModelCommitment(replace(model, outputs=[12, 13]), tiny_commitment().plans)
    with pytest.raises(CommitmentError, match="node plans"):
        ModelCommitment(model, tiny_commitment().plans[:-1])


# -- tiling ---------------------------------------------------------------------------------------------------
def test_tiles_partition_the_output() -> None:
    for out_elems in (1, 10, 16, 17, 6272):
        for max_tiles in (1, 4, 16):
            plan = NodePlan(tile_elems_for(out_elems, max_tiles), out_elems, 8)
            tiles = [plan.tile(t) for t in range(plan.tile_count)]
            assert plan.tile_count <= max_tiles and tiles[0][0] == 0 and tiles[-1][1] == out_elems
            assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(tiles, tiles[1:]))
    with pytest.raises(TilingError):
        NodePlan(4, 10, 8).tile(3)


def test_vm_depth_leaves_headroom() -> None:
    assert vm_depth_for(1) == 1 and vm_depth_for(1000) == 11 and vm_depth_for(1024) == 11
    assert vm_depth_for(1025) == 12 and vm_depth_for(1000, headroom=4) == 12
    with pytest.raises(TilingError):
        vm_depth_for(1 << 40)


def test_plan_measures_every_tile() -> None:
    c = tiny_commitment()
    assert [p.tile_count for p in c.plans] == [4, 4, 4, 4, 4, 4, 4, 1]
    assert all(p.out_elems == c.model.tensor_type(n.output).size for p, n in zip(c.plans, c.model.nodes))
