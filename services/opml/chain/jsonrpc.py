"""The hot JSON-RPC calls of a node sent to the provider as they are, without web3's middleware and request and
result formatters (on a node answering ten requests a second they cost more CPU than the HTTP exchange itself),
with the answers converted to exactly what web3 returns for the fields that have a formatter there (receipts and
logs: integers, `HexBytes`, checksummed addresses, `AttributeDict`s).

    reply = result(w3, "eth_getTransactionReceipt", ["0x" + tx_hash.hex()])   # the raw `result`, or ErrorReply
    receipt = format_receipt(reply)                                           # as w3.eth.get_transaction_receipt

An error reply is not interpreted here: the caller asks again through web3, which raises it in its own words (a
revert as `ContractLogicError` with its data, a rejection as `Web3RPCError`), so errors read the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.datastructures import AttributeDict
from web3.types import RPCEndpoint


class ErrorReply(Exception):
    """The node answered with an error object (`error`)."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


def result(w3: Web3, method: str, params: list[Any]) -> Any:
    """The `result` of `method(params)` sent to `w3`'s provider as it is (None for a null answer); ErrorReply
    when the answer is an error."""
    response = w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in response:
        raise ErrorReply(response["error"])
    return response.get("result")


def hex_data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def quantity(value: Any) -> Any:
    """An integer from a JSON-RPC quantity (`0x`-hex), as web3's `to_integer_if_hex`; other values unchanged."""
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else value


@lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    """The checksummed form of `address` (a node sees the same few addresses over and over: computed once each)."""
    return Web3.to_checksum_address(address)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _address_or_value(value: Any) -> Any:
    return checksum(value) if isinstance(value, str) and len(value) == 42 and value.startswith("0x") else value


_LOG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "blockHash": _optional(HexBytes), "blockNumber": _optional(quantity), "transactionIndex": _optional(quantity),
    "transactionHash": _optional(HexBytes), "logIndex": quantity, "address": checksum,
    "topics": lambda topics: [HexBytes(t) for t in topics], "data": HexBytes,
}


def format_log(raw: Mapping[str, Any]) -> AttributeDict:
    """One log entry as web3 returns it from `get_logs` or inside a receipt."""
    return AttributeDict({key: _LOG_FIELDS[key](value) if key in _LOG_FIELDS else value for key, value in raw.items()})


_RECEIPT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "blockHash": _optional(HexBytes), "blockNumber": _optional(quantity), "transactionIndex": _optional(quantity),
    "transactionHash": HexBytes, "cumulativeGasUsed": quantity, "status": quantity, "gasUsed": quantity,
    "contractAddress": _optional(checksum), "logs": lambda logs: [format_log(entry) for entry in logs],
    "logsBloom": HexBytes, "from": _optional(checksum), "to": _address_or_value, "effectiveGasPrice": quantity,
    "type": quantity, "blobGasPrice": quantity, "blobGasUsed": quantity,
}


def format_receipt(raw: Mapping[str, Any]) -> AttributeDict:
    """A transaction receipt as web3's `get_transaction_receipt` returns it."""
    return AttributeDict({key: _RECEIPT_FIELDS[key](value) if key in _RECEIPT_FIELDS else value
                          for key, value in raw.items()})


def ask(w3: Web3, method: str, params: list[Any], web3_call: Callable[[], Any],
        convert: Callable[[Any], Any] = lambda raw: raw) -> Any:
    """`convert(result(...))`; on an error reply, what `web3_call()` (the same call through web3) returns or
    raises instead."""
    try:
        raw = result(w3, method, params)
    except ErrorReply:
        return web3_call()
    return convert(raw)
