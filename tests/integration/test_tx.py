"""TxSender against Anvil and the real contracts: reverts decoded to custom error names and arguments, the local
nonce (and its resync when someone else used the key), retries of transient RPC failures, structured events."""

from __future__ import annotations

import pytest
import requests
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from fixtures_game import GameStack
from structlog.testing import capture_logs
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.bindings import GameBindings
from opml.chain.tx import ContractRevert, ErrorDecoder, TxError, TxSender

OTHER_KEY = DEV_PRIVATE_KEYS[1]  # the stack's requester: never holds a coordinator credit


@pytest.fixture
def bindings(toy_stack3: GameStack, isolated_chain: Web3) -> GameBindings:
    return GameBindings.at(isolated_chain, toy_stack3.coordinator.address)


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def test_estimate_revert_is_decoded_with_arguments(bindings: GameBindings, toy_stack3: GameStack) -> None:
    sender = TxSender(bindings.game.contract.w3, OTHER_KEY, bindings.errors())
    with capture_logs() as events:
        with pytest.raises(ContractRevert) as info:
            sender.send(bindings.coordinator.submit(1, b"out", b"\0" * 32), value=0)
    assert info.value.name == "UnknownRequest" and info.value.arguments == (1,)
    assert info.value.tx_hash is None and info.value.gas_used == 0
    assert [e["event"] for e in events] == ["tx_reverted"]
    assert events[0]["error"] == "UnknownRequest" and events[0]["stage"] == "estimate"
    with pytest.raises(ContractRevert) as info:
        sender.send(bindings.coordinator.withdraw())
    assert info.value.name == "NothingToWithdraw" and info.value.arguments == ()
    request = bindings.coordinator.request(toy_stack3.model_id, b"x")
    with pytest.raises(ContractRevert) as info:
        sender.send(request, value=1)
    assert info.value.name == "FeeTooLow" and info.value.arguments == (toy_stack3.config.model_fee, 1)
    with pytest.raises(ContractRevert, match="NothingToWithdraw"):
        sender.call(bindings.coordinator.withdraw())
    assert sender.call(request, value=toy_stack3.config.model_fee) == 1  # the id the request would get


def test_mined_revert_is_replayed_and_costs_gas(bindings: GameBindings) -> None:
    w3 = bindings.game.contract.w3
    sender = TxSender(w3, OTHER_KEY, bindings.errors())
    balance = w3.eth.get_balance(sender.address)
    with capture_logs() as events:
        with pytest.raises(ContractRevert) as info:
            sender.send(bindings.game.pick(99, 0), gas=200_000)
    revert = info.value
    assert revert.name == "UnknownGame" and revert.arguments == (99,)
    assert revert.tx_hash is not None and revert.gas_used > 21_000
    assert w3.eth.get_balance(sender.address) == balance - revert.fee_wei
    assert [e["event"] for e in events] == ["tx_sent", "tx_reverted"]
    assert events[1]["stage"] == "mined" and events[1]["error"] == "UnknownGame"
    assert w3.eth.get_transaction_receipt(revert.tx_hash)["status"] == 0


def test_success_returns_receipt_and_fee(bindings: GameBindings, toy_stack3: GameStack) -> None:
    w3 = bindings.game.contract.w3
    sender = TxSender(w3, OTHER_KEY, bindings.errors())
    balance = w3.eth.get_balance(sender.address)
    fee = toy_stack3.config.model_fee
    with capture_logs() as events:
        mined = sender.send(bindings.coordinator.request(toy_stack3.model_id, b"x"), value=fee)
    assert mined.receipt["status"] == 1 and mined.gas_used == mined.receipt["gasUsed"]
    assert w3.eth.get_balance(sender.address) == balance - fee - mined.fee_wei
    assert [e["event"] for e in events] == ["tx_sent", "tx_mined"]
    (created,) = bindings.coordinator.events("RequestCreated", mined.receipt)
    assert created["requester"] == sender.address


def test_nonce_is_local_and_resyncs_after_outside_use(bindings: GameBindings, toy_stack3: GameStack) -> None:
    w3 = bindings.game.contract.w3
    sender = TxSender(w3, OTHER_KEY, bindings.errors())
    fee = toy_stack3.config.model_fee
    first = sender.send(bindings.coordinator.request(toy_stack3.model_id, b"a"), value=fee)
    # someone else sends from the same key (the node knows the account): the sender's next nonce is stale
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender.address, "to": sender.address,
                                                                  "value": 1}))
    with capture_logs() as events:
        second = sender.send(bindings.coordinator.request(toy_stack3.model_id, b"b"), value=fee)
    assert "nonce_resync" in [e["event"] for e in events]
    nonces = [w3.eth.get_transaction(m.tx_hash)["nonce"] for m in (first, second)]
    assert nonces[1] == nonces[0] + 2
    assert w3.eth.get_transaction_count(sender.address) == nonces[1] + 1


class FlakyProvider(Web3.HTTPProvider):
    """An HTTP provider whose first `failures` requests fail like a dropped connection."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures = failures

    def make_request(self, method, params):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise requests.exceptions.ConnectionError(f"simulated drop of {method}")
        return super().make_request(method, params)


def test_transient_failures_are_retried_with_backoff(bindings: GameBindings, toy_stack3: GameStack,
                                                     anvil) -> None:  # type: ignore[no-untyped-def]
    flaky = Web3(FlakyProvider(anvil.url, failures=3))
    pauses: list[float] = []
    poll = 0.001  # receipt polling also sleeps (how often depends on the machine's load): tell it apart
    sender = TxSender(flaky, OTHER_KEY, bindings.errors(), backoff_s=0.01, poll_s=poll, sleep=pauses.append)
    with capture_logs() as events:
        mined = sender.send(bindings.coordinator.request(toy_stack3.model_id, b"c"), value=toy_stack3.config.model_fee)
    assert mined.receipt["status"] == 1
    assert [e["event"] for e in events].count("rpc_retry") == 3
    assert [pause for pause in pauses if pause != poll] == [0.01, 0.02, 0.04]


class LostReplyProvider(Web3.HTTPProvider):
    """Delivers the first `eth_sendRawTransaction` to the node but loses its reply."""

    lost = False

    def make_request(self, method, params):  # type: ignore[no-untyped-def]
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction" and not self.lost:
            self.lost = True
            raise requests.exceptions.ConnectionError("reply lost after delivery")
        return response


def test_lost_reply_is_not_sent_twice(bindings: GameBindings, toy_stack3: GameStack,
                                      anvil) -> None:  # type: ignore[no-untyped-def]
    w3 = Web3(LostReplyProvider(anvil.url))
    sender = TxSender(w3, OTHER_KEY, bindings.errors(), sleep=lambda _: None)
    start = w3.eth.get_transaction_count(sender.address)
    with capture_logs() as events:
        mined = sender.send(bindings.coordinator.request(toy_stack3.model_id, b"d"), value=toy_stack3.config.model_fee)
    assert mined.receipt["status"] == 1
    assert "tx_already_known" in [e["event"] for e in events]
    assert w3.eth.get_transaction_count(sender.address) == start + 1
    assert bindings.coordinator.contract.functions.requestCount().call() == 1


def test_node_that_stays_down_raises_tx_error(bindings: GameBindings, anvil) -> None:  # type: ignore[no-untyped-def]
    dead = Web3(FlakyProvider(anvil.url, failures=100))
    sender = TxSender(dead, OTHER_KEY, bindings.errors(), retries=2, sleep=lambda _: None)
    with pytest.raises(TxError, match="unreachable after 3 attempts"):
        sender.send(bindings.coordinator.withdraw())


def test_decoder_names_builtin_and_unknown_errors() -> None:
    decoder = ErrorDecoder.from_abis([{"type": "error", "name": "Pair", "inputs": [
        {"name": "a", "type": "uint256"}, {"name": "b", "type": "tuple", "components": [
            {"name": "x", "type": "bytes32"}, {"name": "y", "type": "address"}]}]}])
    pair = _selector("Pair(uint256,(bytes32,address))") + encode(
        ["uint256", "(bytes32,address)"], [7, (b"\1" * 32, "0x" + "22" * 20)])
    revert = decoder.decode(pair)
    assert revert.name == "Pair" and revert.arguments[0] == 7 and revert.arguments[1][0] == b"\1" * 32
    error = decoder.decode(_selector("Error(string)") + encode(["string"], ["nope"]))
    assert (error.name, error.arguments) == ("Error", ("nope",))
    panic = decoder.decode(_selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert (panic.name, panic.arguments) == ("Panic", (0x11, "arithmetic overflow"))
    assert decoder.decode(b"").name == "EmptyRevert"
    assert decoder.decode(b"\xde\xad\xbe\xef").name == "UnknownError_0xdeadbeef"


def test_a_transaction_queued_behind_a_nonce_gap_is_mined_once_the_gap_is_filled(bindings: GameBindings) -> None:
    w3 = bindings.game.contract.w3
    sender = TxSender(w3, OTHER_KEY, bindings.errors())
    base = w3.eth.get_transaction_count(sender.address)
    # a transaction at base + 2 (as if a revert had taken base and base + 1 off the chain): queued, never mined
    queued = sender._account.sign_transaction({"to": sender.address, "value": 7, "gas": 21_000, "nonce": base + 2,
                                               "gasPrice": w3.eth.gas_price * 2, "chainId": w3.eth.chain_id})
    w3.eth.send_raw_transaction(queued.raw_transaction)
    w3.provider.make_request("evm_mine", [])
    assert w3.eth.get_transaction_count(sender.address) == base
    assert sender.fill_nonce_gap(base + 2) == 2
    assert sender.fill_nonce_gap(base + 2) == 0  # nothing left to fill
    receipt = w3.eth.wait_for_transaction_receipt(queued.hash, timeout=10)
    assert receipt["status"] == 1 and w3.eth.get_transaction_count(sender.address) == base + 3
    assert sender.send(bindings.game.contract.functions.numLevels()).block_number > 0  # the local nonce moved on
