"""A node's transactions carry the calldata web3 would encode: for every function of the contracts a node sends
to, with arguments of every ABI type, `views.calldata` gives web3's bytes (without web3's encoder); values web3
converts first (a hex string for bytes) are left to web3."""

from __future__ import annotations

import pytest
from test_node_event_decoder import CONTRACTS, sample
from web3 import Web3

from opml.chain.build import load_artifact
from opml.chain.views import calldata

REGISTRY = Web3().eth.contract(address="0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
                               abi=load_artifact("ModelRegistry").abi)
FUNCTIONS = [(contract, item) for contract in (*CONTRACTS.values(), REGISTRY)
             for item in contract.abi if item.get("type") == "function"]


def _value(param: dict, n: int) -> object:
    kind = param["type"]
    if kind == "tuple":
        return tuple(_value(c, n + k) for k, c in enumerate(param["components"]))
    if kind == "tuple[]":
        return [_value({**param, "type": "tuple"}, n + k) for k in range(2)]
    return f"model {n} ✓" if kind == "string" else sample(kind, n)


def _bound(contract, item: dict, offset: int = 0):  # type: ignore[no-untyped-def]
    args = [_value(param, n + offset) for n, param in enumerate(item["inputs"])]
    return getattr(contract.functions, item["name"])(*args)


@pytest.mark.parametrize(("contract", "item"), FUNCTIONS,
                         ids=[f"{c.address[:6]}.{f['name']}" for c, f in FUNCTIONS])
def test_calldata_is_what_web3_encodes(contract, item: dict) -> None:  # type: ignore[no-untyped-def]
    for offset in (0, 5):
        call = _bound(contract, item, offset)
        assert calldata(call) == bytes.fromhex(call._encode_transaction_data()[2:])


def test_values_web3_converts_are_left_to_web3() -> None:
    coordinator = CONTRACTS["Coordinator"]
    as_hex = coordinator.functions.submit(3, "0x" + "ab" * 5, "0x" + "cd" * 32)  # web3 takes hex strings for bytes
    assert calldata(as_hex) == bytes.fromhex(as_hex._encode_transaction_data()[2:])
    as_bytes = coordinator.functions.submit(3, b"\xab" * 5, b"\xcd" * 32)
    expected = calldata(as_hex)
    as_bytes._encode_transaction_data = lambda: pytest.fail("values the ABI encoder takes went to web3")
    assert calldata(as_bytes) == expected
