"""Raw JSON-RPC answers converted exactly as web3's own formatters convert them (values and types), and an error
reply handed to web3 to raise in its own words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from web3 import Web3
from web3._utils.method_formatters import log_entry_formatter, receipt_formatter
from web3.datastructures import AttributeDict

from opml.chain import jsonrpc

LOG = {"address": "0x" + "cd" * 20, "topics": ["0x" + "33" * 32, "0x" + "44" * 32], "data": "0x1234",
       "blockHash": "0x" + "22" * 32, "blockNumber": "0x1a", "blockTimestamp": "0x65",
       "transactionHash": "0x" + "11" * 32, "transactionIndex": "0x3", "logIndex": "0x7", "removed": False}
RECEIPT = {"transactionHash": "0x" + "11" * 32, "transactionIndex": "0x3", "blockHash": "0x" + "22" * 32,
           "blockNumber": "0x1a", "from": "0x" + "ab" * 20, "to": "0x" + "cd" * 20, "cumulativeGasUsed": "0x15f90",
           "gasUsed": "0x5208", "contractAddress": None, "logs": [LOG, {**LOG, "logIndex": "0x8", "topics": []}],
           "status": "0x1", "logsBloom": "0x" + "01" * 256, "type": "0x2", "effectiveGasPrice": "0x3b9aca00",
           "blobGasUsed": "0x0", "root": "0x" + "55" * 32}
DEPLOYMENT = {**RECEIPT, "to": None, "contractAddress": "0x" + "ef" * 20, "logs": [], "status": "0x0"}


def typed(value: Any) -> Any:
    """`value` with the type of every leaf next to it (HexBytes and bytes are not equal as types)."""
    if isinstance(value, dict):
        return type(value), {k: typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value), [typed(v) for v in value]
    return type(value), value


@pytest.mark.parametrize("raw", [RECEIPT, DEPLOYMENT], ids=["call", "deployment"])
def test_receipts_are_formatted_as_web3_formats_them(raw: dict) -> None:
    assert typed(jsonrpc.format_receipt(raw)) == typed(AttributeDict.recursive(receipt_formatter(raw)))


def test_logs_are_formatted_as_web3_formats_them() -> None:
    pending = {**LOG, "blockHash": None, "blockNumber": None, "transactionIndex": None, "transactionHash": None}
    for raw in (LOG, pending):
        assert typed(jsonrpc.format_log(raw)) == typed(AttributeDict.recursive(log_entry_formatter(raw)))


def test_checksum_and_quantity() -> None:
    address = "0x" + "ab" * 20
    assert jsonrpc.checksum(address) == Web3.to_checksum_address(address)
    assert jsonrpc.quantity("0x1f") == 31 and jsonrpc.quantity(31) == 31 and jsonrpc.quantity(None) is None


def fake_w3(response: dict, seen: list) -> Any:
    def make_request(method: str, params: list) -> dict:
        seen.append((method, params))
        return response
    return SimpleNamespace(provider=SimpleNamespace(make_request=make_request))


def test_ask_converts_a_result_and_hands_an_error_to_web3() -> None:
    seen: list = []
    asked_web3: list = []
    w3 = fake_w3({"jsonrpc": "2.0", "id": 1, "result": "0x2a"}, seen)
    assert jsonrpc.ask(w3, "eth_blockNumber", [], lambda: asked_web3.append(1), jsonrpc.quantity) == 42
    assert seen == [("eth_blockNumber", [])] and asked_web3 == []
    assert jsonrpc.ask(fake_w3({"id": 1, "result": None}, seen), "eth_getTransactionReceipt", ["0x00"],
                       lambda: 1 / 0, lambda raw: raw) is None  # a null answer is an answer

    class Rejected(Exception):
        pass

    def web3_call() -> None:
        raise Rejected("nonce too low")

    error = fake_w3({"id": 2, "error": {"code": -32000, "message": "nonce too low"}}, seen)
    with pytest.raises(Rejected, match="nonce too low"):
        jsonrpc.ask(error, "eth_sendRawTransaction", ["0x01"], web3_call)
    assert jsonrpc.ask(error, "eth_estimateGas", [{}], lambda: 21_000, jsonrpc.quantity) == 21_000  # not converted
    with pytest.raises(jsonrpc.ErrorReply, match="nonce too low"):
        jsonrpc.result(error, "eth_sendRawTransaction", ["0x01"])
