"""The chain monitor on Anvil: events in chain order from the start block, held back `confirmations` blocks; a
head that goes back or a block replaced at a height already seen is a reorganization, and the logs after the fork
point are read again; so is a replaced block the node witnessed (its own receipt's), which the head or the logs
vouch for without a block read while it stays."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs
from web3 import Web3

from opml.chain.bindings import CoordinatorContract
from opml.node.devnet import deploy_devnet
from opml.node.monitor import Monitor


def test_events_arrive_once_in_order_after_confirmations(w3: Web3, contracts_built: None) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block, confirmations=2)
    requester = w3.eth.accounts[1]
    for data in (b"one", b"two"):
        w3.eth.wait_for_transaction_receipt(
            coordinator.request(1, data).transact({"from": requester, "value": 10**16}))
    head, events = monitor.poll()
    assert head == w3.eth.block_number
    assert [e.args["input"] for e in events if e.name == "RequestCreated"] == []  # not confirmed yet
    w3.provider.make_request("evm_mine", [])
    _, events = monitor.poll()
    assert [e.args["input"] for e in events if e.name == "RequestCreated"] == [b"one"]
    w3.provider.make_request("evm_mine", [])
    _, events = monitor.poll()
    assert [e.args["input"] for e in events if e.name == "RequestCreated"] == [b"two"]
    assert monitor.poll().events == []  # each event once
    replay = Monitor(w3, [coordinator.contract], deployment.start_block)  # a restarted node scans again
    names = [e.name for e in replay.poll().events]
    assert names == ["RequestCreated", "RequestCreated"]


def _ask(w3: Web3, coordinator: CoordinatorContract, data: bytes) -> None:
    w3.eth.wait_for_transaction_receipt(
        coordinator.request(1, data).transact({"from": w3.eth.accounts[1], "value": 10**16}))


def test_a_head_that_goes_back_rewinds_to_the_fork_and_rereads(w3: Web3, contracts_built: None) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block)
    _ask(w3, coordinator, b"kept")
    fork = w3.eth.block_number
    assert monitor.poll().fork is None
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    _ask(w3, coordinator, b"dropped")
    w3.provider.make_request("evm_mine", [])
    first = monitor.poll()
    assert [e.args["input"] for e in first.events] == [b"dropped"] and first.fork is None
    w3.provider.make_request("evm_revert", [snapshot])  # the head goes back …
    _ask(w3, coordinator, b"instead")  # … and a different block is mined at the height seen before
    again = monitor.poll()
    assert again.fork == fork and monitor.reorgs == 1
    assert [e.args["input"] for e in again.events] == [b"instead"]


def test_a_replaced_block_at_a_seen_height_is_a_reorg(w3: Web3, contracts_built: None) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block)
    _ask(w3, coordinator, b"one")
    _ask(w3, coordinator, b"two")
    _ask(w3, coordinator, b"three")
    head = w3.eth.block_number
    assert [e.args["input"] for e in monitor.poll().events] == [b"one", b"two", b"three"]
    w3.provider.make_request("anvil_reorg", [2, []])  # the last two blocks replaced by empty ones: same height
    assert w3.eth.block_number == head
    again = monitor.poll()
    assert again.fork == head - 2
    assert again.events == []  # "two" and "three" are gone from the chain: nothing to read again
    assert monitor.next_block == head + 1


def _asked(w3: Web3, coordinator: CoordinatorContract, data: bytes) -> tuple[int, bytes]:
    """(block number, block hash) of a request's receipt: what a daemon witnesses of its own transaction."""
    receipt = w3.eth.wait_for_transaction_receipt(
        coordinator.request(1, data).transact({"from": w3.eth.accounts[1], "value": 10**16}))
    return receipt["blockNumber"], bytes(receipt["blockHash"])


def _counting_block_reads(w3: Web3, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    asked: list[object] = []
    make_request = w3.provider.make_request

    def counted(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_getBlockByNumber":
            asked.append(params[0])
        return make_request(method, params)

    monkeypatch.setattr(w3.provider, "make_request", counted)
    return asked


def test_witnessed_blocks_with_logs_cost_no_block_reads(w3: Web3, contracts_built: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block)
    polled = monitor.poll()
    for data in (b"a", b"b", b"c"):
        monitor.witness(*_asked(w3, coordinator, data))
    asked = _counting_block_reads(w3, monkeypatch)
    poll = monitor.poll()
    assert poll.fork is None and [e.args["input"] for e in poll.events] == [b"a", b"b", b"c"]
    # the head, and the last head seen (is the chain still the one polled?); for the witnessed blocks, the head and
    # the logs' block hashes vouch: none is read
    assert asked == ["latest", hex(polled.head)]


def test_a_witnessed_block_replaced_above_the_last_poll_is_a_reorg(w3: Web3, contracts_built: None) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block)
    _ask(w3, coordinator, b"kept")
    polled = monitor.poll()
    for data in (b"gone", b"also gone"):
        monitor.witness(*_asked(w3, coordinator, data))
    w3.provider.make_request("anvil_reorg", [2, []])  # both replaced by empty blocks: the head only grew
    with capture_logs() as logs:
        again = monitor.poll()
    assert again.fork == polled.head and monitor.reorgs == 1
    (reorg,) = [e for e in logs if e["event"] == "chain_reorg"]
    assert (reorg["previous_head"], reorg["fork"], reorg["depth"]) == (polled.head, polled.head, 0)
    assert again.events == [] and monitor.next_block == again.head + 1


def test_a_witnessed_hash_the_logs_contradict_is_a_reorg(w3: Web3, contracts_built: None) -> None:
    deployment = deploy_devnet(w3)
    coordinator = CoordinatorContract(w3, deployment.coordinator)
    monitor = Monitor(w3, [coordinator.contract], deployment.start_block)
    polled = monitor.poll()
    number, _ = _asked(w3, coordinator, b"one")
    _ask(w3, coordinator, b"two")
    monitor.witness(number, b"\x01" * 32)  # a block at that height the chain no longer has
    with capture_logs() as logs:
        again = monitor.poll()
    assert again.fork == polled.head and monitor.reorgs == 1
    (reorg,) = [e for e in logs if e["event"] == "chain_reorg"]
    assert reorg["previous_head"] == polled.head  # the last head polled, not the last block whose logs were read
    assert [e.args["input"] for e in again.events] == [b"one", b"two"]  # read again from above the fork, once each
