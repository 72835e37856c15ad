"""An imported BERT encoder (tests/data/encoders) is disputed on chain like any other model: its packed int32
token input is the request's input bytes, the model is committed and registered on Anvil's ML stack, and a
submitter lying in the mean-pooling Attention node (the node that makes the pooled embedding) loses a dispute
decided by one MIPS step at that node."""

from __future__ import annotations

from collections.abc import Iterator

import encoder_models as E
import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, challenge, deploy_ml_game_stack, events, play, request, send
from web3 import Web3

from opml.game.types import Phase, Role
from opml.levels.commitments import ModelCommitment, commit_model, tensor_commitment
from opml.levels.faults import WrongOutput
from opml.levels.lies import LyingRequestLevel
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
    yield deploy_ml_game_stack(w3, commitment.roots, "opml://bert_mean_erf", ML_STACK_CONFIG)


@pytest.mark.usefixtures("isolated_chain")
def test_a_lie_in_the_pooled_embedding_is_decided_by_one_mips_step(game: GameStack, honest: RequestLevel) -> None:
    c = honest.commitment
    assert np.array_equal(honest.graph.values[c.model.outputs[0]],
                          executor.run(c.model, honest.input_value).result[0])
    node = max(k for k, n in enumerate(c.model.nodes) if n.op is OpType.ATTENTION)
    assert c.model.nodes[node].attrs.score_multiplier == 0  # the mean pooling
    element = c.nodes[node].plan.tile(c.nodes[node].plan.tile_count - 1)[0]
    fault = WrongOutput(node, element, delta=3, vm_step=None)
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
    assert bytes(stepped["computedPost"]) == honest.graph.tile_level(node).vm_level(tile).root_at(played.final.hi)
