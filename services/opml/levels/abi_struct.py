"""ABI structs: a frozen dataclass whose fields are annotated with their Solidity types encodes itself as the
contracts decode it (`abi.encode(Struct)`), its tuple type and its values both following the field order.

    @dataclass(frozen=True)
    class Proof(AbiStruct):
        root: Bytes32            # bytes32
        siblings: Bytes32Array   # bytes32[]
        node: NodeDef            # a nested AbiStruct: its own tuple type

    Proof.abi_type() == "(bytes32,bytes32[],(...))";  proof.encode() == abi.encode(proof.as_tuple())
    proof.hash() == keccak256(proof.encode())
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from eth_abi import encode

from opml.hashing import keccak

Uint = Annotated[int, "uint256"]
UintArray = Annotated[tuple[int, ...], "uint256[]"]
Bytes = Annotated[bytes, "bytes"]
Bytes32 = Annotated[bytes, "bytes32"]
Bytes32Array = Annotated[tuple[bytes, ...], "bytes32[]"]
Bytes32Matrix = Annotated[tuple[tuple[bytes, ...], ...], "bytes32[][]"]


class AbiStruct:
    """Mixin for a dataclass of fields annotated `Annotated[python type, "solidity type"]` or nested AbiStructs."""

    @classmethod
    def abi_type(cls) -> str:
        """The struct's ABI tuple type, e.g. "(bytes32,uint256[])"."""
        return _struct_type(cls)

    def as_tuple(self) -> tuple:
        """The field values in order, as eth_abi and web3 take a struct: tuples as lists, nested structs as tuples."""
        return tuple(_abi_value(getattr(self, f.name)) for f in dataclasses.fields(self))

    def encode(self) -> bytes:
        """abi.encode(struct)."""
        return encode([self.abi_type()], [self.as_tuple()])

    def hash(self) -> bytes:
        """keccak256(abi.encode(struct))."""
        return keccak(self.encode())


@functools.cache
def _struct_type(cls: type) -> str:
    hints = get_type_hints(cls, include_extras=True)
    return f"({','.join(_field_type(f.name, hints[f.name]) for f in dataclasses.fields(cls))})"


def _field_type(name: str, hint: Any) -> str:
    if get_origin(hint) is Annotated:
        return get_args(hint)[1]
    if isinstance(hint, type) and issubclass(hint, AbiStruct):
        return hint.abi_type()
    raise TypeError(f"field {name}: {hint!r} names no ABI type")


def _abi_value(value: Any) -> Any:
    if isinstance(value, AbiStruct):
        return value.as_tuple()
    if isinstance(value, tuple):
        return [_abi_value(v) for v in value]
    return value
