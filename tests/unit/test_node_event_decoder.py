"""The head follower's event decoder gives exactly what web3's `process_log` gives, for every event of the
Coordinator and the DisputeGame (each argument type: indexed and not, addresses, bytes, arrays)."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.logs import DISCARD

from opml.chain.bindings import BindingError, CoordinatorContract
from opml.chain.build import load_artifact
from opml.node.monitor import EventDecoder

ADDRESSES = {"Coordinator": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
             "DisputeGame": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"}


def sample(kind: str, i: int) -> object:
    if kind.endswith("[]"):
        return [sample(kind[:-2], i + k) for k in range(3)]
    if kind == "address":
        return Web3.to_checksum_address(bytes([i + 1]) * 20)
    if kind == "bool":
        return i % 2 == 1
    if kind == "bytes":
        return bytes(range(i, i + 37))
    if kind.startswith("bytes"):
        return bytes([i + 7]) * int(kind[5:])
    return 2 ** (int(kind[4:] or 256) - 1) - i if kind.startswith("uint") else i


def raw_log(address: str, item: dict, values: list[object]) -> dict:
    indexed = [(i["type"], v) for i, v in zip(item["inputs"], values) if i["indexed"]]
    data = [(i["type"], v) for i, v in zip(item["inputs"], values) if not i["indexed"]]
    topics = [event_abi_to_log_topic(item)] + [abi_encode([t], [v]) for t, v in indexed]
    return {"address": address, "topics": topics, "data": abi_encode([t for t, _ in data], [v for _, v in data]),
            "blockNumber": 7, "logIndex": 3, "transactionIndex": 0, "transactionHash": b"\1" * 32,
            "blockHash": b"\2" * 32, "removed": False}


CONTRACTS = {name: Web3().eth.contract(address=address, abi=load_artifact(name).abi)
             for name, address in ADDRESSES.items()}
EVENTS = [(name, item) for name, contract in CONTRACTS.items() for item in contract.abi if item.get("type") == "event"]


@pytest.mark.parametrize(("contract", "item"), EVENTS, ids=[f"{c}.{e['name']}" for c, e in EVENTS])
def test_decoded_like_web3(contract: str, item: dict) -> None:
    values = [sample(i["type"], n) for n, i in enumerate(item["inputs"])]
    raw = raw_log(ADDRESSES[contract], item, values)
    ours = EventDecoder(list(CONTRACTS.values())).decode(raw)
    theirs = getattr(CONTRACTS[contract].events, item["name"])().process_log(raw)
    assert ours is not None
    assert (ours.name, ours.address, ours.block, ours.log_index) == (theirs["event"], theirs["address"], 7, 3)
    assert ours.args == dict(theirs["args"])
    assert {k: type(v) for k, v in ours.args.items()} == {k: type(v) for k, v in theirs["args"].items()}


def test_logs_of_other_contracts_and_unknown_topics_are_skipped() -> None:
    decoder = EventDecoder(list(CONTRACTS.values()))
    item = next(e for _, e in EVENTS if e["name"] == "Withdrawn")
    assert decoder.decode(raw_log("0x" + "ab" * 20, item, [sample("address", 1), 5])) is None
    assert decoder.decode({**raw_log(ADDRESSES["Coordinator"], item, [sample("address", 1), 5]),
                           "topics": [b"\3" * 32]}) is None
    assert decoder.decode({"address": ADDRESSES["Coordinator"], "topics": [], "data": b""}) is None


def test_a_bindings_receipt_events_are_web3s() -> None:
    """`_Binding.events` (the node reads its own receipts with it) gives what web3's `process_receipt` gives."""
    coordinator = CoordinatorContract(Web3(), ADDRESSES["Coordinator"])
    logs = []
    for n, (contract, item) in enumerate(EVENTS):
        values = [sample(i["type"], n) for i in item["inputs"]]
        logs.append({**raw_log(ADDRESSES[contract], item, values), "logIndex": n})
    receipt = {"logs": [*logs, {**logs[0], "address": "0x" + "ab" * 20}]}  # another contract's copy: ignored
    for name in {item["name"] for contract, item in EVENTS if contract == "Coordinator"}:
        theirs = getattr(coordinator.contract.events, name)().process_receipt(
            {**receipt, "logs": [log for log in logs if log["address"] == coordinator.address]}, errors=DISCARD)
        assert coordinator.events(name, receipt) == [dict(e["args"]) for e in theirs]
    with pytest.raises(BindingError):
        coordinator.events("NoSuchEvent", receipt)
