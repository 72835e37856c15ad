"""Exact integer matmul on the native path.

numpy's integer matmul is not BLAS-accelerated; float64 BLAS is, and it is exact on int8-valued operands as long
as every partial sum stays below 2^53 in magnitude: |a·b| <= 128·128 per term, so K·128·128 < 2^53 suffices
(whatever the summation order). Beyond that bound, the int64 matmul is used.
"""

from __future__ import annotations

import numpy as np

_EXACT_LIMIT = 1 << 53
_MAX_TERM = 128 * 128


def float64_is_exact(k: int) -> bool:
    """True when a float64 dot product of length k over int8 values is exact."""
    return k * _MAX_TERM < _EXACT_LIMIT


def matmul_int64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference: a @ b in int64 (a: [M, K], b: [K, N], integer values)."""
    return np.asarray(a, dtype=np.int64) @ np.asarray(b, dtype=np.int64)


def matmul_i8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b exactly as int64, for int8-valued a: [M, K] and b: [K, N]; float64 BLAS when provably exact."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_i8: incompatible shapes {a.shape} @ {b.shape}")
    if not float64_is_exact(a.shape[1]):
        return matmul_int64(a, b)
    product = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)
    return product.astype(np.int64)
