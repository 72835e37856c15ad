"""The transformer ops under the levels, on chain: a tiny transformer block (tests/transformer_models.py) whose
graph uses every transformer op — several with op ids >= 16, so its kernel proofs need the depth-5 kernel set —
is committed; for every node the GraphTileLink and TileVmLink verifiers on Anvil accept the honest openings and
return the sub-start and context Python computes, the graph level's values are the native executor's, and a
submitter lying in the output of the Attention node and of the CacheWrite node loses a dispute decided by one
MIPS step at that node; so does a submitter lying in the token that a Sample node (the highest op id) draws from
an LM head's logits."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, deploy_ml_game_stack
from level_disputes import assert_a_lie_at_node_loses_in_one_step, assert_every_node_links
from transformer_models import sampler_model, transformer_block_model
from web3 import Web3

from opml.levels.commitments import KERNEL_SET_DEPTH, OP_IDS, ModelCommitment, commit_model
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
    assert_every_node_links(contracts.links[1], contracts.links[2], honest)


@pytest.fixture(scope="module")
def game(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    yield deploy_ml_game_stack(w3, commitment, "opml://transformer_block", ML_STACK_CONFIG)


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("op", [OpType.ATTENTION, OpType.CACHE_WRITE], ids=lambda op: op.value)
def test_a_lie_in_a_transformer_node_is_decided_by_one_mips_step(game: GameStack, honest: RequestLevel,
                                                                  op: OpType) -> None:
    node = next(k for k, n in enumerate(honest.commitment.model.nodes) if n.op is op)
    assert_a_lie_at_node_loses_in_one_step(game, honest, node, delta=5)


@pytest.fixture(scope="module")
def sampler() -> RequestLevel:
    rng = np.random.default_rng(9)
    return RequestLevel(commit_model(sampler_model(rng)), rng.integers(-128, 128, (1, 8), dtype=np.int8))


def test_the_sampler_links_on_chain(contracts: LevelContracts, sampler: RequestLevel) -> None:
    assert OP_IDS[OpType.SAMPLE] == max(OP_IDS.values()) and OP_IDS[OpType.SAMPLE] < 1 << KERNEL_SET_DEPTH
    assert_every_node_links(contracts.links[1], contracts.links[2], sampler)


@pytest.fixture(scope="module")
def sampler_game(w3: Web3, contracts_built: None, sampler: RequestLevel) -> Iterator[GameStack]:
    yield deploy_ml_game_stack(w3, sampler.commitment, "opml://sampler", ML_STACK_CONFIG)


@pytest.mark.usefixtures("isolated_chain")
def test_a_lie_in_the_sampled_token_is_decided_by_one_mips_step(sampler_game: GameStack,
                                                                sampler: RequestLevel) -> None:
    assert_a_lie_at_node_loses_in_one_step(sampler_game, sampler, node=1, delta=1)
