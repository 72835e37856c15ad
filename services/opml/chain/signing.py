"""Signing EIP-1559 (type 2) transactions with one key: the bytes and hash eth_account's `sign_transaction` gives
(RFC 6979 signatures are deterministic), at a fraction of its CPU (it derives the public key and validates the
dictionary field by field on every call; a node signs two transactions per request it answers).

    signer = Signer(private_key)
    raw, tx_hash = signer.sign({"to": ..., "data": ..., "value": 0, "gas": 90_000, "nonce": 7, "chainId": 31337,
                                "maxFeePerGas": ..., "maxPriorityFeePerGas": ...})

EIP-1559: the signed payload is 0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value,
data, accessList]); the transaction is 0x02 || rlp([... the same nine ..., yParity, r, s]); its hash is the keccak of
the transaction bytes.
"""

from __future__ import annotations

from typing import Any

import rlp
from coincurve import PrivateKey

from opml.hashing import keccak

TYPE_1559 = b"\x02"
FIELDS = ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to", "value", "data")


def is_plain_1559(tx: dict[str, Any]) -> bool:
    """Whether `tx` is a type 2 call this signer covers: exactly the `FIELDS` (plus `from`), a recipient, no access
    list."""
    return set(tx) - {"from"} == set(FIELDS) and bool(tx["to"])


class Signer:
    """Signs plain EIP-1559 transactions (`is_plain_1559`) with one secp256k1 key."""

    def __init__(self, private_key: bytes | str) -> None:
        key = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else bytes(private_key)
        self._key = PrivateKey(key)

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """(raw transaction bytes, transaction hash) of `tx` signed."""
        to = tx["to"]
        data = tx["data"]
        fields = [tx["chainId"], tx["nonce"], tx["maxPriorityFeePerGas"], tx["maxFeePerGas"], tx["gas"],
                  bytes.fromhex(to[2:]) if isinstance(to, str) else bytes(to), tx["value"],
                  bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data), []]
        signature = self._key.sign_recoverable(keccak(TYPE_1559 + rlp.encode(fields)), hasher=None)
        r, s, y_parity = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
        raw = TYPE_1559 + rlp.encode([*fields, y_parity, r, s])
        return raw, keccak(raw)
