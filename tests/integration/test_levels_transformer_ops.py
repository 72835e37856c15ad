"""The transformer ops under the levels, on chain: a tiny transformer block (tests/transformer_models.py) whose
graph uses every transformer op — several with op ids >= 16, so its kernel proofs need the depth-5 kernel set —
is committed; for every node the GraphTileLink and TileVmLink verifiers on Anvil accept the honest openings and
return the sub-start and context Python computes, the graph level's values are the native executor's, and a
submitter lying in the output of the Attention node and of the CacheWrite node (the highest op id) loses a
dispute decided by one MIPS step at that node."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, challenge, deploy_ml_game_stack, events, play, request, send
from transformer_models import transformer_block_model
from web3 import Web3

from opml.game.types import Phase, Role
from opml.levels.commitments import EMPTY_TENSOR, KERNEL_SET_DEPTH, OP_IDS, ModelCommitment, commit_model, \
    tensor_commitment
from opml.levels.faults import WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.stacks.ml import LevelContracts, deploy_level_contracts
from opml.ml import executor
from opml.ml.ops import OpType

TRANSFORMER_OPS = {OpType.GATHER, OpType.RMS_NORM, OpType.LAYER_NORM, OpType.MATMUL, OpType.ATTENTION, OpType.ROPE,
                   OpType.LUT, OpType.MUL, OpType.CACHE_WRITE}


@pytest.fixture(scope="module")
def commitment() -> ModelCommitment:
    return commit_model(transformer_block_model(np.random.default_rng(7)))


@pytest.fixture(scope="module")
def honest(commitment: ModelCommitment) -> RequestLevel:
    return RequestLevel(commitment, np.array([3, 0, 9, 4], dtype=np.int32))


@pytest.fixture(scope="module")
def contracts(w3: Web3, contracts_built: None) -> LevelContracts:
    return deploy_level_contracts(w3)


def test_the_block_uses_every_transformer_op_and_ids_beyond_the_old_depth(commitment: ModelCommitment) -> None:
    used = {node.op for node in commitment.model.nodes}
    assert TRANSFORMER_OPS <= used
    assert len(OpType) > 16 and KERNEL_SET_DEPTH == 5
    assert max(OP_IDS[op] for op in used) >= 16


def test_the_graph_level_values_are_the_native_ones(commitment: ModelCommitment, honest: RequestLevel) -> None:
    trace = executor.run(commitment.model, [honest.input_value])
    for node in commitment.model.nodes:
        assert np.array_equal(honest.graph.values[node.output], trace.values[node.output]), node.op.value


def test_every_node_links_on_chain(contracts: LevelContracts, honest: RequestLevel) -> None:
    g = honest.graph
    graph_tile, tile_vm = contracts.links[1], contracts.links[2]
    for k in range(g.length):
        tiles = g.tile_level(k)
        args = (honest.commitment.graph_context, k, g.root_at(k), g.root_at(k + 1), tiles.root_at(tiles.length),
                tiles.length)
        start, context = graph_tile.functions.verifyLink(*args, g.link_proof(k).encode()).call()
        where = f"node {k} ({honest.commitment.model.nodes[k].op.value})"
        assert (bytes(start), bytes(context)) == g.link_proof(k).verify(*args) and bytes(start) == EMPTY_TENSOR, where
        for t in sorted({0, tiles.length - 1}):
            vm = tiles.vm_level(t)
            vm_args = (bytes(context), t, tiles.root_at(t), tiles.root_at(t + 1), vm.root_at(vm.length), vm.length)
            vm_start, vm_context = tile_vm.functions.verifyLink(*vm_args, tiles.link_proof(t).encode()).call()
            assert (bytes(vm_start), bytes(vm_context)) == tiles.link_proof(t).verify(*vm_args), f"{where} tile {t}"
            assert bytes(vm_start) == vm.root_at(0), f"{where} tile {t}"


@pytest.fixture(scope="module")
def game(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    yield deploy_ml_game_stack(w3, commitment.roots, "opml://transformer_block", ML_STACK_CONFIG)


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("op", [OpType.ATTENTION, OpType.CACHE_WRITE], ids=lambda op: op.value)
def test_a_lie_in_a_transformer_node_is_decided_by_one_mips_step(game: GameStack, honest: RequestLevel,
                                                                  op: OpType) -> None:
    c = honest.commitment
    node = next(k for k, n in enumerate(c.model.nodes) if n.op is op)
    element = c.nodes[node].plan.tile(c.nodes[node].plan.tile_count - 1)[0]
    fault = WrongOutput(node, element, delta=5, vm_step=None)
    liar = LyingRequestLevel(c, honest.input_value, {fault})
    request_id, receipt = request(game, liar.input_value.tobytes())
    (created,) = events(game.coordinator.events.RequestCreated, receipt)
    assert bytes(created["anchor"]) == c.anchor(tensor_commitment(liar.input_value))
    send(game, game.coordinator.functions.submit(request_id, *liar.submission()), game.submitter,
         ML_STACK_CONFIG.submitter_bond)
    game_id, _ = challenge(game, request_id)
    played = play(game, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert played.final.phase is Phase.CHALLENGER_WON and not played.rejected, played.final
    tile = element // c.nodes[node].plan.tile_elems
    assert played.final.openings == (0, node, tile) and played.final.depth == 3
    (stepped,) = events(game.game.events.Stepped, played.receipts[-1])
    honest_vm = honest.graph.tile_level(node).vm_level(tile)
    assert bytes(stepped["computedPost"]) == honest_vm.root_at(played.final.hi)
