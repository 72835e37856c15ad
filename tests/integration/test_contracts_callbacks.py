"""Callbacks on finalization (ExampleConsumer, a reverting and a gas-guzzling consumer) and the ModelRegistry."""

from __future__ import annotations

import pytest
from fixtures_game import (CALLBACK_GAS, GameStack, advance_time, ask_through, events, example_consumer, expect_revert,
                           fee_paid, send, submit, toy_trace)
from web3.exceptions import ContractLogicError

from opml.chain.contracts import deploy
from opml.chain.tx import revert_data
from opml.hashing import keccak

pytestmark = pytest.mark.usefixtures("isolated_chain")


def _answer(stack: GameStack, request_id: int) -> bytes:
    """Submits the honest toy result and waits out the window; returns the output bytes."""
    trace = toy_trace(stack, request_id)
    submit(stack, request_id, trace)
    advance_time(stack.w3, stack.config.challenge_window + 1)
    return trace.claim_preimage(1)


def test_example_consumer_receives_the_final_output(toy_stack3: GameStack) -> None:
    s = toy_stack3
    consumer = example_consumer(s)
    request_id = ask_through(s, consumer)
    assert consumer.functions.askerOf(request_id).call() == s.requester
    output = _answer(s, request_id)
    assert not consumer.functions.answered(request_id).call()

    receipt = send(s, s.coordinator.functions.finalize(request_id), s.other)
    (result,) = events(s.coordinator.events.CallbackResult, receipt)
    assert result["success"] and result["callback"] == consumer.address
    assert events(consumer.events.InferenceAnswered, receipt)[0]["output"] == output
    assert consumer.functions.answered(request_id).call()
    assert consumer.functions.outputOf(request_id).call() == output
    assert not s.coordinator.functions.getRequest(request_id).call()[10]  # callbackFailed
    forged = consumer.functions.onOpmlResult(request_id, b"forged")
    _expect_consumer_error(s, consumer, forged)


def test_example_consumer_refunds_an_unanswered_request_to_its_asker(toy_stack3: GameStack) -> None:
    s = toy_stack3
    consumer = example_consumer(s)
    fee = s.config.model_fee
    request_id = ask_through(s, consumer, b"nobody answers")

    expect_revert(s, consumer.functions.refund(request_id), s.requester, "RequestNotExpired")  # too early
    advance_time(s.w3, s.config.request_timeout)
    _expect_consumer_error(s, consumer, consumer.functions.refund(request_id), "NotAsker(address)")
    before = s.w3.eth.get_balance(s.requester)
    receipt = send(s, consumer.functions.refund(request_id), s.requester)
    (refunded,) = events(consumer.events.InferenceRefunded, receipt)
    assert refunded["amount"] == fee and refunded["asker"] == s.requester
    assert s.w3.eth.get_balance(s.requester) == before + fee - fee_paid(receipt)
    assert s.w3.eth.get_balance(consumer.address) == 0
    assert s.coordinator.functions.balanceOf(consumer.address).call() == 0
    _expect_consumer_error(s, consumer, consumer.functions.refund(request_id), "UnknownInference(uint256)",
                           sender=s.requester)  # refunded once only
    _expect_consumer_error(s, consumer, consumer.functions.onOpmlResult(request_id, b"late"),
                           "UnknownInference(uint256)", sender=s.coordinator.address)


def _ask(stack: GameStack, consumer) -> int:  # noqa: ANN001
    """The test consumer requests with itself as the callback (the only callback the coordinator accepts)."""
    call = consumer.functions.ask(stack.coordinator.address, stack.model_id, b"toy input", CALLBACK_GAS)
    receipt = send(stack, call, stack.requester, stack.config.model_fee)
    (created,) = events(stack.coordinator.events.RequestCreated, receipt)
    return created["requestId"]


def _expect_consumer_error(stack: GameStack, consumer, call, error: str = "NotCoordinator(address)",
                           sender: str | None = None) -> None:
    """The consumer's own error (its ABI is not in the stack's decoder)."""
    with pytest.raises(ContractLogicError) as info:
        call.call({"from": sender or stack.other})
    assert revert_data(info.value)[:4] == keccak(error.encode())[:4]


@pytest.mark.parametrize("consumer_name", ["RevertingConsumer", "GasGuzzlerConsumer"])
def test_failing_callback_does_not_block_finalization(toy_stack3: GameStack, consumer_name: str) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    consumer = deploy(s.w3, consumer_name)
    request_id = _ask(s, consumer)
    _answer(s, request_id)
    finalize = s.coordinator.functions.finalize(request_id)
    receipt = send(s, finalize, s.other)
    (result,) = events(s.coordinator.events.CallbackResult, receipt)
    assert not result["success"]
    assert s.coordinator.functions.getRequest(request_id).call()[10]  # callbackFailed recorded
    assert s.coordinator.functions.balanceOf(s.submitter).call() == cfg.model_fee + cfg.submitter_bond
    if consumer_name == "GasGuzzlerConsumer":
        assert CALLBACK_GAS <= receipt["gasUsed"] < CALLBACK_GAS + 150_000  # it got its gas, and no more


def test_finalizer_must_forward_the_callback_gas(toy_stack3: GameStack) -> None:
    s = toy_stack3
    consumer = deploy(s.w3, "GasGuzzlerConsumer")
    request_id = _ask(s, consumer)
    _answer(s, request_id)
    with pytest.raises(ContractLogicError) as info:
        s.coordinator.functions.finalize(request_id).call({"from": s.other, "gas": CALLBACK_GAS})
    assert s.errors.decode(revert_data(info.value)).name == "InsufficientGasForCallback"
    send(s, s.coordinator.functions.finalize(request_id), s.other)  # with the estimated gas it goes through


# -- the registry -----------------------------------------------------------------------------------------------
def test_registry_registers_models_and_kernels_with_named_errors(toy_stack3: GameStack) -> None:
    s = toy_stack3
    fn = s.registry.functions
    roots = [keccak(bytes([i])) for i in range(3)]
    receipt = send(s, fn.registerModel(*roots, "ipfs://m2", 7), s.other)
    (registered,) = events(s.registry.events.ModelRegistered, receipt)
    model_id = registered["modelId"]
    assert model_id == s.model_id + 1 == fn.modelCount().call()
    assert fn.getModel(model_id).call() == (s.other, *roots, 7, "ipfs://m2")
    expect_revert(s, fn.registerModel(roots[0], b"\0" * 32, roots[2], "", 0), s.other, "ZeroRoot")
    expect_revert(s, fn.setFee(model_id, 9), s.requester, "NotModelOwner")
    send(s, fn.setFee(model_id, 9), s.other)
    assert fn.modelRoots(model_id).call()[3] == 9
    expect_revert(s, fn.getModel(123), s.other, "UnknownModel")

    expect_revert(s, fn.registerKernel(3, roots[0]), s.other, "NotAdmin")
    send(s, fn.registerKernel(3, roots[0]), s.admin)
    assert fn.kernelCode(3).call() == roots[0]
    expect_revert(s, fn.registerKernel(3, roots[1]), s.admin, "KernelAlreadyRegistered")
    expect_revert(s, fn.registerKernel(4, b"\0" * 32), s.admin, "ZeroRoot")
