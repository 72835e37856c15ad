"""An imported BERT encoder (tests/data/encoders) is disputed on chain like any other model: its packed int32
token input is the request's input bytes, the model is committed and registered on Anvil's ML stack, and a
submitter lying in the mean-pooling Attention node (the node that makes the pooled embedding) loses a dispute
decided by one MIPS step at that node."""

from __future__ import annotations

from collections.abc import Iterator

import encoder_models as E
import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, deploy_ml_game_stack
from level_disputes import assert_a_lie_at_node_loses_in_one_step
from web3 import Web3

from opml.levels.commitments import ModelCommitment, commit_model
from opml.levels.request_level import RequestLevel
from opml.ml import executor
from opml.ml.encoder_input import pack_tokens
from opml.ml.onnx_import import quantize_onnx, read_onnx
from opml.ml.ops import OpType


@pytest.fixture(scope="module")
def commitment() -> ModelCommitment:
    rng = np.random.default_rng(31)
    quantized = quantize_onnx(read_onnx(E.ENCODERS["bert_mean_erf"]), E.token_batch(rng, 32), name="bert")
    return commit_model(quantized.model)


@pytest.fixture(scope="module")
def honest(commitment: ModelCommitment) -> RequestLevel:
    sequence = {k: v[0] for k, v in E.token_batch(np.random.default_rng(32), 1, min_len=6).items()}
    sequence["attention_mask"][-3:] = 0
    return RequestLevel(commitment, pack_tokens(commitment.model, sequence))


@pytest.fixture(scope="module")
def game(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    yield deploy_ml_game_stack(w3, commitment, "opml://bert_mean_erf", ML_STACK_CONFIG)


@pytest.mark.usefixtures("isolated_chain")
def test_a_lie_in_the_pooled_embedding_is_decided_by_one_mips_step(game: GameStack, honest: RequestLevel) -> None:
    c = honest.commitment
    assert np.array_equal(honest.graph.values[c.model.outputs[0]],
                          executor.run(c.model, honest.input_value).result[0])
    node = max(k for k, n in enumerate(c.model.nodes) if n.op is OpType.ATTENTION)
    assert c.model.nodes[node].attrs.score_multiplier == 0  # the mean pooling
    assert_a_lie_at_node_loses_in_one_step(game, honest, node, delta=3)
