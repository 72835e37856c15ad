"""Requantization primitives with exact C semantics (gemmlowp), vectorized over numpy arrays.

All arithmetic is done on int64 intermediates; C's truncating division and arithmetic shifts are emulated
explicitly (numpy's `//` floors). The formulas are normative in docs/ops.md §Requantization; the MIPS kernels
(kernels/include/opml_quant.h) compute the same bits.

A multiplier is a pair (M0, shift) meaning the real number  M0 · 2^(−31 − shift), with M0 = 0 or
2^30 <= M0 < 2^31 and −31 <= shift <= 31 (shift > 0: right shift, shift < 0: saturating left shift).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import QuantError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
M0_MIN = 1 << 30
M0_LIMIT = 1 << 31
SHIFT_MIN = -31
SHIFT_MAX = 31


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def trunc_div_pow2(v: np.ndarray, exponent: int) -> np.ndarray:
    """C's `v / 2^exponent` on int64 (rounds toward zero)."""
    v = _i64(v)
    return np.where(v >= 0, v >> exponent, -((-v) >> exponent))


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul (gemmlowp): floor((a·b + 2^30) / 2^31); INT32_MIN·INT32_MIN → INT32_MAX.

    Computed as gemmlowp does, (a·b + nudge) / 2^31 with C truncation and nudge = 2^30 or 1 − 2^30 by the sign
    of a·b, which is round-to-nearest with exact ties going toward +∞ (−0.5 → 0, +0.5 → 1).
    a, b are int32 values (arrays broadcastable together); the result is int64 holding an int32 value.
    """
    a, b = _i64(a), _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = trunc_div_pow2(ab + nudge, 31)
    overflow = (a == b) & (a == INT32_MIN)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31)."""
    x, exponent = _i64(x), _i64(exponent)
    if np.any((exponent < 0) | (exponent > 31)):
        raise QuantError("rounding_divide_by_pot: exponent must be in [0, 31]")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_left_shift(x, amount) -> np.ndarray:
    """x · 2^amount saturated to int32 (0 <= amount <= 31)."""
    x, amount = _i64(x), _i64(amount)
    return np.clip(x << amount, INT32_MIN, INT32_MAX)


def multiply_by_quantized_multiplier(x, m0, shift) -> np.ndarray:
    """x · M0 · 2^(−31−shift) on int32 x, the gemmlowp way (int64 result holding an int32 value).

    shift < 0: x is first shifted left by −shift with int32 saturation; then SRDHM(·, M0); then for shift > 0
    RoundingDivideByPOT(·, shift).
    """
    x, m0, shift = _i64(x), _i64(m0), _i64(shift)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    return rounding_divide_by_pot(srdhm(saturating_left_shift(x, left), m0), right)


def requantize(acc, m0, shift, *, relu: bool = False) -> np.ndarray:
    """int32 accumulators → int8: saturate(MBQM(acc, M0, shift)) to [−128, 127] ([0, 127] with relu)."""
    low = 0 if relu else -128
    return np.clip(multiply_by_quantized_multiplier(acc, m0, shift), low, 127).astype(np.int8)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Represent a real multiplier >= 0 as (M0, shift) with real ≈ M0 · 2^(−31−shift).

    M0 is in [2^30, 2^31) (relative error <= 2^−31); reals too small for shift <= 31 give (0, 0) (the product
    is 0 anyway); reals >= 2^31 (shift < −31) raise QuantError.
    """
    if not math.isfinite(real) or real < 0:
        raise QuantError(f"multiplier must be a finite real >= 0, got {real!r}")
    if real == 0:
        return 0, 0
    fraction, exponent = math.frexp(real)  # real = fraction · 2^exponent, fraction in [0.5, 1)
    m0 = round(fraction * M0_LIMIT)
    if m0 == M0_LIMIT:
        m0, exponent = m0 // 2, exponent + 1
    shift = -exponent
    if shift > SHIFT_MAX:
        return 0, 0
    if shift < SHIFT_MIN:
        raise QuantError(f"multiplier {real!r} is too large (needs shift {shift} < {SHIFT_MIN})")
    return int(m0), int(shift)


def check_multiplier(m0: int, shift: int) -> None:
    """Raise QuantError unless (m0, shift) is in the documented domain."""
    if not (m0 == 0 or M0_MIN <= m0 < M0_LIMIT):
        raise QuantError(f"multiplier M0={m0} not 0 and not in [2^30, 2^31)")
    if not SHIFT_MIN <= shift <= SHIFT_MAX:
        raise QuantError(f"shift {shift} not in [{SHIFT_MIN}, {SHIFT_MAX}]")
