"""Keccak-256 Merkle trees over large byte strings, hashed in compiled code on every core.

The tree is the one of docs/vm.md: leaves are the 32-byte chunks taken raw, a node one level up is
keccak256(left ‖ right), a missing right part is the zero subtree of its level. Every node above the leaves is the
keccak256 of a 64-byte message, so a whole level is one batch: `keccak64` runs keccak-f[1600] (Ethereum's keccak,
the pre-standard padding 0x01 … 0x80) over many 64-byte messages in parallel (numba `prange`), bit-identical to
`opml.hashing.keccak` (tests/unit/test_keccak_tree.py) and, without the per-call overhead of a Python hash call,
about the speed of one native keccak per node.

`tree_levels(data, top)` gives every level of the tree above `data` (zero padded to whole 64-byte pairs) up to
level `top`; `subtree_root(data, top)` its root. Small inputs are cheaper with plain `keccak` (no batching to pay
for); callers choose (opml.vm.memory uses these above a threshold).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from opml.hashing import keccak

if numba.config.THREADING_LAYER == "default":  # no spin-waiting workers on shared cores (as opml.llm.fast_ops)
    numba.config.THREADING_LAYER = "workqueue"

PARALLEL_ROWS = 4096  # from this many messages on, keccak64 hashes on every core
_ROUND_CONSTANTS = np.array([
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
], dtype=np.uint64)


@njit(cache=True, inline="always")
def _rotl(v, n):
    return (v << np.uint64(n)) | (v >> np.uint64(64 - n))


@njit(cache=True)
def _hash_row(words, out, i, rc):  # noqa: PLR0915 - keccak-f[1600] unrolled over 25 lanes, on purpose
    """out[i] = the first 4 lanes of keccak-f[1600] applied to the padded 64-byte message words[i] (8 lanes)."""
    zero = np.uint64(0)
    a0, a1, a2, a3, a4 = words[i, 0], words[i, 1], words[i, 2], words[i, 3], words[i, 4]
    a5, a6, a7, a8, a9 = words[i, 5], words[i, 6], words[i, 7], np.uint64(0x01), zero  # 0x01: keccak's padding
    a10, a11, a12, a13, a14, a15 = zero, zero, zero, zero, zero, zero
    a16 = np.uint64(0x80) << np.uint64(56)  # the padding's last byte, at the end of the 136-byte rate
    a17, a18, a19, a20, a21, a22, a23, a24 = zero, zero, zero, zero, zero, zero, zero, zero
    for r in range(24):
        c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
        c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
        c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
        c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
        c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
        d0 = c4 ^ _rotl(c1, 1)
        d1 = c0 ^ _rotl(c2, 1)
        d2 = c1 ^ _rotl(c3, 1)
        d3 = c2 ^ _rotl(c4, 1)
        d4 = c3 ^ _rotl(c0, 1)
        b0 = a0 ^ d0
        b10 = _rotl(a1 ^ d1, 1)
        b20 = _rotl(a2 ^ d2, 62)
        b5 = _rotl(a3 ^ d3, 28)
        b15 = _rotl(a4 ^ d4, 27)
        b16 = _rotl(a5 ^ d0, 36)
        b1 = _rotl(a6 ^ d1, 44)
        b11 = _rotl(a7 ^ d2, 6)
        b21 = _rotl(a8 ^ d3, 55)
        b6 = _rotl(a9 ^ d4, 20)
        b7 = _rotl(a10 ^ d0, 3)
        b17 = _rotl(a11 ^ d1, 10)
        b2 = _rotl(a12 ^ d2, 43)
        b12 = _rotl(a13 ^ d3, 25)
        b22 = _rotl(a14 ^ d4, 39)
        b23 = _rotl(a15 ^ d0, 41)
        b8 = _rotl(a16 ^ d1, 45)
        b18 = _rotl(a17 ^ d2, 15)
        b3 = _rotl(a18 ^ d3, 21)
        b13 = _rotl(a19 ^ d4, 8)
        b14 = _rotl(a20 ^ d0, 18)
        b24 = _rotl(a21 ^ d1, 2)
        b9 = _rotl(a22 ^ d2, 61)
        b19 = _rotl(a23 ^ d3, 56)
        b4 = _rotl(a24 ^ d4, 14)
        a0 = b0 ^ (~b1 & b2)
        a1 = b1 ^ (~b2 & b3)
        a2 = b2 ^ (~b3 & b4)
        a3 = b3 ^ (~b4 & b0)
        a4 = b4 ^ (~b0 & b1)
        a5 = b5 ^ (~b6 & b7)
        a6 = b6 ^ (~b7 & b8)
        a7 = b7 ^ (~b8 & b9)
        a8 = b8 ^ (~b9 & b5)
        a9 = b9 ^ (~b5 & b6)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a0 ^= rc[r]
    out[i, 0], out[i, 1], out[i, 2], out[i, 3] = a0, a1, a2, a3


@njit(cache=True, parallel=True)
def _keccak64(words, out, rc):
    for i in prange(words.shape[0]):
        _hash_row(words, out, i, rc)


@njit(cache=True)
def _keccak64_serial(words, out, rc):  # a few rows: waking the worker threads would cost more than hashing them
    for i in range(words.shape[0]):
        _hash_row(words, out, i, rc)


def keccak64(messages: np.ndarray) -> np.ndarray:
    """keccak256 of each row of `messages` (uint8 [n, 64], C order): uint8 [n, 32]."""
    rows = np.ascontiguousarray(messages, dtype=np.uint8)
    if rows.ndim != 2 or rows.shape[1] != 64:
        raise ValueError(f"keccak64 takes [n, 64] bytes, got shape {rows.shape}")
    out = np.empty((rows.shape[0], 4), dtype=np.uint64)
    if rows.shape[0]:
        kernel = _keccak64 if rows.shape[0] >= PARALLEL_ROWS else _keccak64_serial
        kernel(rows.view("<u8"), out, _ROUND_CONSTANTS)
    return out.view(np.uint8)


def _zero_hashes(top: int) -> list[bytes]:
    hashes = [bytes(32)]
    for _ in range(top):
        hashes.append(keccak(hashes[-1] + hashes[-1]))
    return hashes


ZERO = _zero_hashes(32)  # ZERO[h] = root of an all-zero subtree at level h


def _as_bytes_array(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def parent_level(nodes: np.ndarray, level: int) -> np.ndarray:
    """The nodes at `level + 1` over `nodes` (uint8 [n, 32], leftmost first) at `level`, an odd last one paired
    with the zero subtree of `level`."""
    if len(nodes) % 2:
        nodes = np.concatenate((nodes, np.frombuffer(ZERO[level], dtype=np.uint8)[None, :]))
    return keccak64(nodes.reshape(-1, 64))


def tree_levels(data: bytes | bytearray | memoryview | np.ndarray, top: int) -> list[np.ndarray]:
    """levels[h] (uint8 [n_h, 32]) for h = 0..top: the nodes of the tree over `data` (zero padded to 64 bytes;
    only the nodes that cover data, the rest are zero subtrees). levels[0] are the raw 32-byte chunks; `top` ≥ 1."""
    raw = _as_bytes_array(data)
    if top < 1:
        raise ValueError(f"a tree over pairs of chunks has top level ≥ 1, got {top}")
    if len(raw) % 64 or not len(raw):
        raw = np.concatenate((raw, np.zeros(64 - len(raw) % 64, dtype=np.uint8)))
    levels = [raw.reshape(-1, 32)]
    for h in range(top):
        levels.append(parent_level(levels[-1], h))
    return levels


def subtree_root(data: bytes | bytearray | memoryview | np.ndarray, top: int) -> bytes:
    """The level-`top` root of the tree whose leftmost leaves hold `data` (the rest zero)."""
    if len(_as_bytes_array(data)) > 32 << top:
        raise ValueError(f"{len(_as_bytes_array(data))} bytes do not fit a subtree of level {top}")
    return tree_levels(data, top)[top][0].tobytes()
