"""A contract view's calldata and answer straight from its ABI, decoded as web3's contract calls return them
(addresses checksummed), without web3's contract-call path (about four times the CPU per call); and the calldata of
any bound call (`contract.functions.f(args)`) the same way, for the transactions a node sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import EncodingError
from eth_abi.grammar import ABIType, TupleType, parse
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types

from .jsonrpc import checksum


@dataclass(frozen=True)
class ViewAbi:
    """One view function: its selector, input types and output types (as strings and parsed)."""

    selector: bytes
    inputs: tuple[str, ...]
    output_types: tuple[str, ...]
    outputs: tuple[ABIType, ...]

    @classmethod
    def of(cls, abi: Any) -> ViewAbi:
        """From a function's ABI entry."""
        outputs = tuple(get_abi_output_types(abi))
        return cls(function_abi_to_4byte_selector(abi), tuple(get_abi_input_types(abi)), outputs,
                   tuple(parse(t) for t in outputs))

    def calldata(self, args: tuple[Any, ...]) -> str:
        """The call's data, 0x-hex."""
        return "0x" + (self.selector + encode(self.inputs, args)).hex()

    def answer(self, raw: bytes) -> tuple[Any, ...]:
        """The outputs in `raw`, addresses checksummed (as web3 returns them)."""
        return tuple(_normalized(t, v) for t, v in zip(self.outputs, decode(self.output_types, raw)))


def _normalized(abi_type: ABIType, value: Any) -> Any:
    if abi_type.is_array:
        return tuple(_normalized(abi_type.item_type, v) for v in value)
    if isinstance(abi_type, TupleType):
        return tuple(_normalized(t, v) for t, v in zip(abi_type.components, value))
    return checksum(value) if abi_type.base == "address" else value


_BY_SIGNATURE: dict[str, ViewAbi] = {}


def calldata(call: Any) -> bytes:
    """The data of a bound contract call, the bytes web3's `call._encode_transaction_data()` gives: encoded from
    the function's ABI (kept per signature) when its positional arguments are already what the ABI encoder takes,
    else (keyword arguments, values web3 would convert first) by web3 itself."""
    if not call.kwargs:
        abi = _BY_SIGNATURE.get(call.signature)
        if abi is None:
            abi = _BY_SIGNATURE[call.signature] = ViewAbi.of(call.abi)
        try:
            return abi.selector + encode(abi.inputs, call.args)
        except (EncodingError, TypeError):
            pass
    return bytes.fromhex(call._encode_transaction_data()[2:])
