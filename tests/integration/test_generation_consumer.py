"""The GenerationConsumer contract: it encodes a generation request on chain exactly as `opml.llm.generation` does,
refuses an empty prompt or zero new tokens, and reads the delivered token ids back cut at the first EOS."""

from __future__ import annotations

import random

import pytest
from fixtures_game import GameStack, advance_time, events, send, submit, toy_trace
from web3.exceptions import ContractLogicError

from opml.chain.contracts import deploy
from opml.chain.tx import revert_data
from opml.hashing import keccak
from opml.llm.generation import GenerationRequest, encode_output

pytestmark = pytest.mark.usefixtures("isolated_chain")

CALLBACK_GAS = 250_000
EOS = 1
U32 = (1 << 32) - 1


def _consumer(stack: GameStack):  # noqa: ANN202 — a web3 contract
    return deploy(stack.w3, "GenerationConsumer", stack.coordinator.address, stack.model_id, CALLBACK_GAS, EOS)


def test_the_consumer_encodes_a_generation_request_as_the_nodes_read_it(toy_stack3: GameStack) -> None:
    consumer = _consumer(toy_stack3)
    rng = random.Random(13)
    for _ in range(6):
        request = GenerationRequest(tuple(rng.randrange(U32 + 1) for _ in range(rng.randint(1, 9))),
                                    rng.randint(1, U32), rng.randrange(U32 + 1), rng.randrange(1 << 64))
        encoded = consumer.functions.encodeGeneration(list(request.prompt), request.max_new_tokens,
                                                      request.temperature_q16, request.salt).call()
        assert encoded == request.encode()
    for args, error in (([], 4), ([0, 5], 0)):  # no prompt token; no new token
        with pytest.raises(ContractLogicError) as info:
            consumer.functions.encodeGeneration(args, error, 0, 0).call()
        name = "EmptyPrompt()" if not args else "NoNewTokens()"
        assert revert_data(info.value)[:4] == keccak(name.encode())[:4]


def test_tokens_before_eos_cut_the_output_at_the_first_eos(toy_stack3: GameStack) -> None:
    consumer = _consumer(toy_stack3)
    cut = consumer.functions.tokensBeforeEos
    assert cut(encode_output([5, 7, EOS, 9, EOS]), EOS).call() == [5, 7]
    assert cut(encode_output([EOS, 3]), EOS).call() == []
    assert cut(encode_output([U32, 0, 2]), EOS).call() == [U32, 0, 2]
    assert cut(b"", EOS).call() == []


def test_a_generation_asked_through_the_consumer_is_delivered_as_tokens(toy_stack3: GameStack) -> None:
    s = toy_stack3
    consumer = _consumer(s)
    request = GenerationRequest((0, 81, 1451), 8, 0, 42)
    receipt = send(s, consumer.functions.generate(list(request.prompt), 8, 0, 42), s.requester, s.config.model_fee)
    (created,) = events(s.coordinator.events.RequestCreated, receipt)
    assert bytes(created["input"]) == request.encode()  # what every node decodes
    request_id = created["requestId"]
    assert consumer.functions.askerOf(request_id).call() == s.requester
    assert consumer.functions.tokensOf(request_id).call() == []  # nothing delivered yet

    trace = toy_trace(s, request_id)  # the toy stack answers 32 bytes: eight u32 "tokens"
    submit(s, request_id, trace)
    advance_time(s.w3, s.config.challenge_window + 1)
    send(s, s.coordinator.functions.finalize(request_id), s.other)
    output = trace.claim_preimage(1)
    words = [int.from_bytes(output[i:i + 4], "little") for i in range(0, len(output), 4)]
    expected = words[:words.index(EOS)] if EOS in words else words
    assert consumer.functions.outputOf(request_id).call() == output
    assert consumer.functions.tokensOf(request_id).call() == expected
