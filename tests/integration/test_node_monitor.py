"""The chain monitor on Anvil: events in chain order from the start block, held back `confirmations` blocks."""

from __future__ import annotations

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
    assert monitor.poll()[1] == []  # each event once
    replay = Monitor(w3, [coordinator.contract], deployment.start_block)  # a restarted node scans again
    names = [e.name for e in replay.poll()[1]]
    assert names == ["RequestCreated", "RequestCreated"]
