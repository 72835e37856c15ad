"""numpy reference implementations, one per op: (inputs, attrs) -> output. Normative text: docs/ops.md.

Inputs are assumed to have passed shape inference (shapes.py). Integer arithmetic is done in int64 and reduced
with explicit C semantics; int32 accumulators wrap modulo 2^32 (two's complement), as the kernels' do.
"""

from __future__ import annotations

import numpy as np

from . import attrs as A
from . import quant
from .errors import OpError
from .fastmm import matmul_i8
from .shapes import SOFTMAX_TABLE_SIZE, window_out_hw

SOFTMAX_ONE = 127  # output q = round(127 · p)
SOFTMAX_TABLE_MAX = 1 << 16


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Reduce int64 values modulo 2^32 into int32 (two's complement), like C's unsigned arithmetic."""
    return np.asarray(x, dtype=np.int64).astype(np.int32)


def fully_connected(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    x, w, b = ins
    return wrap_int32(matmul_i8(x, w.T) + b.astype(np.int64))


def _windows(xp: np.ndarray, kernel, strides, dilations, out_hw) -> np.ndarray:
    """[N, C, Hp, Wp] -> [N, C, kh, kw, OH, OW]: the (dilated, strided) window elements of every output."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_hw
    n, c = xp.shape[:2]
    out = np.empty((n, c, kh, kw, oh, ow), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
    return out


def _pad(x: np.ndarray, pads, value: int) -> np.ndarray:
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def conv2d(ins: list[np.ndarray], attrs: A.Conv2DAttrs) -> np.ndarray:
    x, w, b = ins
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    g, og = attrs.groups, o // attrs.groups
    oh, ow = window_out_hw(x.shape[2:], (kh, kw), attrs.strides, attrs.pads, attrs.dilations)
    cols = _windows(_pad(x, attrs.pads, 0), (kh, kw), attrs.strides, attrs.dilations, (oh, ow))
    out = np.empty((n, o, oh, ow), dtype=np.int64)
    for gi in range(g):
        patches = cols[:, gi * cg:(gi + 1) * cg].reshape(n, cg * kh * kw, oh * ow).transpose(0, 2, 1)
        filters = w[gi * og:(gi + 1) * og].reshape(og, cg * kh * kw)
        acc = matmul_i8(patches.reshape(n * oh * ow, cg * kh * kw), filters.T)
        out[:, gi * og:(gi + 1) * og] = acc.reshape(n, oh, ow, og).transpose(0, 3, 1, 2)
    return wrap_int32(out + b.astype(np.int64)[None, :, None, None])


def relu(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    (x,) = ins
    return np.maximum(x, 0).astype(x.dtype)


def _pool_out(x: np.ndarray, attrs: A.PoolAttrs) -> tuple[int, int]:
    return window_out_hw(x.shape[2:], attrs.kernel, attrs.strides, attrs.pads)


def max_pool(ins: list[np.ndarray], attrs: A.PoolAttrs) -> np.ndarray:
    """Padding never wins: pads < kernel means every window holds a real element, and −128 is a lower bound."""
    (x,) = ins
    win = _windows(_pad(x, attrs.pads, -128), attrs.kernel, attrs.strides, (1, 1), _pool_out(x, attrs))
    return win.max(axis=(2, 3)).astype(np.int8)


def rounded_mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """total / count rounded to nearest, ties away from zero: sign(t) · floor((2|t| + c) / (2c))."""
    total, count = np.asarray(total, dtype=np.int64), np.asarray(count, dtype=np.int64)
    magnitude = (2 * np.abs(total) + count) // (2 * count)
    return np.where(total < 0, -magnitude, magnitude)


def avg_pool(ins: list[np.ndarray], attrs: A.AvgPoolAttrs) -> np.ndarray:
    (x,) = ins
    out_hw = _pool_out(x, attrs)
    total = _windows(_pad(x.astype(np.int64), attrs.pads, 0), attrs.kernel, attrs.strides, (1, 1), out_hw)
    if attrs.count_include_pad:
        count = np.int64(attrs.kernel[0] * attrs.kernel[1])
    else:
        ones = _pad(np.ones((1, 1) + x.shape[2:], dtype=np.int64), attrs.pads, 0)
        count = _windows(ones, attrs.kernel, attrs.strides, (1, 1), out_hw).sum(axis=(2, 3))
    return rounded_mean(total.sum(axis=(2, 3)), count).astype(np.int8)


def global_avg_pool(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    (x,) = ins
    total = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
    return rounded_mean(total, np.int64(x.shape[2] * x.shape[3])).astype(np.int8)


def add(ins: list[np.ndarray], attrs: A.AddAttrs) -> np.ndarray:
    a, b = ins
    shift = attrs.left_shift
    sa = quant.multiply_by_quantized_multiplier(a.astype(np.int64) << shift, attrs.a_multiplier, attrs.a_shift)
    sb = quant.multiply_by_quantized_multiplier(b.astype(np.int64) << shift, attrs.b_multiplier, attrs.b_shift)
    total = np.clip(sa + sb, quant.INT32_MIN, quant.INT32_MAX)
    out = quant.rounding_divide_by_pot(total, shift)
    return np.clip(out, 0 if attrs.relu else -128, 127).astype(np.int8)


def reshape(ins: list[np.ndarray], attrs: A.ReshapeAttrs) -> np.ndarray:
    (x,) = ins
    return x.reshape(attrs.shape)


def requantize(ins: list[np.ndarray], attrs: A.RequantizeAttrs) -> np.ndarray:
    (x,) = ins
    m0 = np.asarray(attrs.multipliers, dtype=np.int64)
    shift = np.asarray(attrs.shifts, dtype=np.int64)
    if len(m0) > 1:
        along = [1] * x.ndim
        along[attrs.axis] = len(m0)
        m0, shift = m0.reshape(along), shift.reshape(along)
    return quant.requantize(x, m0, shift, relu=attrs.relu)


def check_softmax_table(table: np.ndarray) -> None:
    """A softmax table is int32[256] with entries in [0, 2^16] and entry 0 (the row maximum) positive."""
    if table.shape != (SOFTMAX_TABLE_SIZE,):
        raise OpError(f"Softmax table must have {SOFTMAX_TABLE_SIZE} entries, got shape {table.shape}")
    if table.min() < 0 or table.max() > SOFTMAX_TABLE_MAX or table[0] <= 0:
        raise OpError(f"Softmax table entries must be in [0, {SOFTMAX_TABLE_MAX}] with table[0] > 0")


def softmax(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    x, table = ins
    check_softmax_table(table)
    xi = x.astype(np.int64)
    e = table.astype(np.int64)[xi.max(axis=-1, keepdims=True) - xi]
    total = e.sum(axis=-1, keepdims=True)
    return ((SOFTMAX_ONE * e + total // 2) // total).astype(np.int8)


def argmax(ins: list[np.ndarray], attrs: A.ArgMaxAttrs) -> np.ndarray:
    """np.argmax returns the first maximum: ties go to the lowest index."""
    (x,) = ins
    return np.argmax(x, axis=-1, keepdims=attrs.keepdims).astype(np.int32)


def softmax_exp_table(scale: float) -> np.ndarray:
    """The Softmax table for int8 logits of the given scale: T[d] = round(2^16 · exp(−scale · d)), d = 0..255.

    Computed once when a model is built (floats are fine there); the table is then a committed constant.
    """
    d = np.arange(SOFTMAX_TABLE_SIZE, dtype=np.float64)
    return np.round(SOFTMAX_TABLE_MAX * np.exp(-float(scale) * d)).astype(np.int32)
