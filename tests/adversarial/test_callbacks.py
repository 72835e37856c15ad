"""Attack: push a final result into a consumer that never asked — a request naming someone else's contract as its
callback, on an input the attacker chose. The Coordinator refuses any callback but the requester itself, so the
docs' consumer, which checks only `msg.sender == coordinator` for the delivery, is safe by construction."""

from __future__ import annotations

import pytest
from fixtures_game import (CALLBACK_GAS, GameStack, advance_time, ask_through, events, example_consumer, expect_revert,
                           send, submit, toy_trace)
from web3 import Web3

pytestmark = [pytest.mark.usefixtures("isolated_chain"), pytest.mark.attack]


def test_request_naming_another_contract_as_callback_is_refused(toy_stack3: GameStack) -> None:
    s = toy_stack3
    victim = example_consumer(s)
    request = s.coordinator.functions.request
    revert = expect_revert(s, request(s.model_id, b"attacker's input", victim.address, CALLBACK_GAS), s.other,
                           "CallbackNotRequester", s.config.model_fee)
    assert tuple(map(Web3.to_checksum_address, revert.arguments)) == (victim.address, s.other)
    assert s.coordinator.functions.requestCount().call() == 0


def test_only_the_consumer_that_asked_is_called_back(toy_stack3: GameStack) -> None:
    s = toy_stack3
    consumer = example_consumer(s)
    request_id = ask_through(s, consumer)
    submit(s, request_id, toy_trace(s, request_id))
    advance_time(s.w3, s.config.challenge_window + 1)
    receipt = send(s, s.coordinator.functions.finalize(request_id), s.other)
    (result,) = events(s.coordinator.events.CallbackResult, receipt)
    assert result["success"] and result["callback"] == consumer.address
    assert consumer.functions.answered(request_id).call()
