"""Post-training quantization arithmetic (symmetric int8, zero point 0; docs/ops.md).

- activations: one scale per tensor, S = r / 127 with r the calibrated magnitude rounded up to RANGE_BITS
  significant bits (exact binary fractions, so float noise between machines does not move the scale);
- weights: per output channel (axis 0), S_w[o] = max|W[o]| / 127, W_q = round(W / S_w[o]) in [−127, 127];
- biases: int32 at scale S_in · S_w[o];
- requantization: M[o] = S_in · S_w[o] / S_out as gemmlowp (M0, shift) pairs.
"""

from __future__ import annotations

import math

import numpy as np

from . import attrs as A
from .errors import QuantError
from .quant import quantize_multiplier

INT8_MAX = 127
RANGE_BITS = 10


def round_range(magnitude: float) -> float:
    """`magnitude` rounded up to RANGE_BITS significant bits (exact binary fractions: same on every machine)."""
    if not (magnitude > 0 and math.isfinite(magnitude)):
        return 0.0
    mantissa, exponent = math.frexp(magnitude)
    return math.ldexp(math.ceil(mantissa * (1 << RANGE_BITS)), exponent - RANGE_BITS)


def activation_scale(magnitude: float) -> float:
    """int8 scale covering [−magnitude, magnitude]; a tensor that is always 0 gets scale 1."""
    magnitude = round_range(magnitude)
    return magnitude / INT8_MAX if magnitude > 0 else 1.0


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (axis 0) symmetric int8: returns (W_q, S_w[o])."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    scales = np.abs(flat).max(axis=1) / INT8_MAX
    scales[scales == 0] = 1.0
    q = np.clip(np.round(flat / scales[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q.reshape(w.shape), scales


def quantize_bias(b: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int32 bias at scale S_in · S_w[o]; QuantError if it does not fit in int32."""
    q = np.round(b.astype(np.float64) / scales)
    if np.abs(q).max(initial=0) >= 2**31:
        raise QuantError(f"bias up to {np.abs(b).max():.6g} does not fit in int32 at scale S_in·S_w")
    return q.astype(np.int32)


def requantize_attrs(real: np.ndarray, relu: bool) -> A.RequantizeAttrs:
    """Requantize attributes for per-channel real multipliers (one pair when all channels agree)."""
    pairs = [quantize_multiplier(float(m)) for m in real]
    if len(set(pairs)) == 1:
        pairs = pairs[:1]
    return A.RequantizeAttrs(
        multipliers=tuple(m for m, _ in pairs), shifts=tuple(s for _, s in pairs), axis=1, relu=relu
    )
