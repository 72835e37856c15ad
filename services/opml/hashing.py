"""Keccak-256 as Ethereum uses it (the pre-standard SHA-3 padding)."""

from tiny_keccak import keccak256 as _keccak256


def keccak(data: bytes) -> bytes:
    """keccak(data) = Ethereum's keccak256, 32 bytes."""
    return _keccak256(data)
