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
from .shapes import EXP2_TABLE_SIZE, SOFTMAX_TABLE_SIZE, window_out_hw

SOFTMAX_ONE = 127  # output q = round(127 · p)
SOFTMAX_TABLE_MAX = 1 << 16
NORM_FRAC_BITS = 22  # the normalized value n of RMSNorm/LayerNorm carries 22 fraction bits
ATTENTION_PROB_BITS = 15  # attention probabilities p[t] carry 15 fraction bits (sum ≈ 2^15)
SAMPLE_LAST_STEP = 17 * 256  # 1/256-log2 steps at which an exp2 weight (at most 2^16) has shifted down to 0
SPLITMIX_GAMMA, SPLITMIX_MIX1, SPLITMIX_MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
U64 = (1 << 64) - 1


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


def _check_ids(ids: np.ndarray, limit: int, what: str) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= limit):
        raise OpError(f"{what} out of range [0, {limit}): min {ids.min()}, max {ids.max()}")


def gather(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    """out[i, :] = table[ids[i], :]; an id outside [0, V) is an OpError (kernel exit code 16)."""
    table, ids = ins
    _check_ids(ids, table.shape[0], "Gather ids")
    return table[ids]


def isqrt64(a: np.ndarray) -> np.ndarray:
    """floor(sqrt(a)) for int64 0 <= a < 2^62, exact (a float estimate corrected in integers)."""
    a = np.asarray(a, dtype=np.int64)
    r = np.floor(np.sqrt(a.astype(np.float64))).astype(np.int64)
    for _ in range(4):
        r = np.where(r * r > a, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= a, r + 1, r)
    return r


def bit_length(a: np.ndarray) -> np.ndarray:
    """Number of bits of each int64 1 <= a < 2^53 (exact through float64's exponent)."""
    return np.frexp(np.asarray(a, dtype=np.float64))[1].astype(np.int64)


def inverse_sqrt(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, p) with 1/sqrt(a) ≈ q · 2^(p − 61), for int64 1 <= a < 2^45 (docs/ops.md "RMSNorm"):
    p = (62 − bitlen(a)) >> 1,  r = isqrt(a · 4^p) ∈ [2^30, 2^31),  q = floor((2^61 − 1) / r)."""
    p = (62 - bit_length(a)) >> 1
    r = isqrt64(np.asarray(a, dtype=np.int64) << (2 * p))
    return ((1 << 61) - 1) // r, p


def _normalize(centered: np.ndarray, a: np.ndarray, gain: np.ndarray, bias: np.ndarray | None,
               attrs: A.NormAttrs) -> np.ndarray:
    """Shared tail of the norms: n = RDBPOT(c·q, 39 − p); y = SRDHM(n, g) (+ bias, sat32); sat8(MBQM(y))."""
    q, p = inverse_sqrt(a)
    n = quant.rounding_divide_by_pot(centered * q, 61 - NORM_FRAC_BITS - p)
    y = quant.srdhm(n, gain.astype(np.int64))
    if bias is not None:
        y = np.clip(y + bias.astype(np.int64), quant.INT32_MIN, quant.INT32_MAX)
    return quant.requantize(y, attrs.multiplier, attrs.shift)


def rms_norm(ins: list[np.ndarray], attrs: A.NormAttrs) -> np.ndarray:
    x, gain = ins
    xi = x.astype(np.int64)
    d = x.shape[-1]
    a = d * (xi * xi).sum(axis=-1, keepdims=True) + attrs.epsilon
    return _normalize(d * xi, a, gain, None, attrs)


def layer_norm(ins: list[np.ndarray], attrs: A.NormAttrs) -> np.ndarray:
    x, gain, bias = ins
    xi = x.astype(np.int64)
    d = x.shape[-1]
    total = xi.sum(axis=-1, keepdims=True)
    a = d * (xi * xi).sum(axis=-1, keepdims=True) - total * total + attrs.epsilon
    return _normalize(d * xi - total, a, gain, bias, attrs)


def matmul(ins: list[np.ndarray], attrs: A.MatMulAttrs) -> np.ndarray:
    a, b = ins
    out = np.empty((a.shape[0], a.shape[1], b.shape[1] if attrs.transpose_b else b.shape[2]), dtype=np.int64)
    for i in range(a.shape[0]):
        out[i] = matmul_i8(a[i], b[i].T if attrs.transpose_b else b[i])
    return wrap_int32(out)


def check_exp2_table(table: np.ndarray, what: str = "Attention exp2 table") -> None:
    """An exp2 table is int32[256] with entries in [0, 2^16] and entry 0 positive (as a Softmax table)."""
    if table.shape != (EXP2_TABLE_SIZE,) or table.min() < 0 or table.max() > SOFTMAX_TABLE_MAX or table[0] <= 0:
        raise OpError(f"{what} must be int32[{EXP2_TABLE_SIZE}] with entries in [0, {SOFTMAX_TABLE_MAX}] "
                      f"and entry 0 > 0")


def visible_keys(positions: np.ndarray, key_mask: np.ndarray, causal: bool) -> np.ndarray:
    """[B, S, T] bool: key t is visible to query s when key_mask[b, t] != 0 and (not causal or t <= pos[b, s])."""
    keys = key_mask.shape[1]
    visible = (key_mask != 0)[:, None, :]
    if causal:
        visible = visible & (np.arange(keys)[None, None, :] <= positions[:, :, None])
    return np.broadcast_to(visible, (positions.shape[0], positions.shape[1], keys))


def attention(ins: list[np.ndarray], attrs: A.AttentionAttrs) -> np.ndarray:
    q, k, v, positions, key_mask, table = ins
    check_exp2_table(table)
    group = q.shape[2] // k.shape[2]
    kh = np.repeat(k.astype(np.int64), group, axis=2)
    vh = np.repeat(v.astype(np.int64), group, axis=2)
    scores = np.einsum("bshi,bthi->bsht", q.astype(np.int64), kh)
    visible = visible_keys(positions, key_mask, attrs.causal)[:, :, None, :]
    top = np.where(visible, scores, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
    diff = np.where(visible, top - scores, 0)
    u = quant.multiply_by_quantized_multiplier(diff, attrs.score_multiplier, attrs.score_shift)
    e = np.where(visible, table.astype(np.int64)[u & 255] >> np.minimum(u >> 8, 31), 0)
    total = e.sum(axis=-1, keepdims=True)
    prob = ((e << ATTENTION_PROB_BITS) + total // 2) // np.maximum(total, 1)
    acc = np.einsum("bsht,bthj->bshj", prob, vh)
    return quant.requantize(acc, attrs.out_multiplier, attrs.out_shift)


def rope(ins: list[np.ndarray], attrs: A.RoPEAttrs) -> np.ndarray:
    x, positions, table = ins
    _check_ids(positions, table.shape[0], "RoPE positions")
    cs = table.astype(np.int64)[positions][:, :, None, :]  # [B, S, 1, head_dim]
    cos, sin = cs[..., 0::2], cs[..., 1::2]
    xi = x.astype(np.int64)
    half = x.shape[-1] // 2
    first, second = (np.s_[..., :half], np.s_[..., half:]) if attrs.half_split else (np.s_[..., 0::2],
                                                                                       np.s_[..., 1::2])
    x1, x2 = xi[first], xi[second]
    out = np.empty_like(xi)
    out[first] = quant.rounding_divide_by_pot(x1 * cos - x2 * sin, attrs.frac_bits)
    out[second] = quant.rounding_divide_by_pot(x1 * sin + x2 * cos, attrs.frac_bits)
    return np.clip(out, -128, 127).astype(np.int8)


def lut(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    x, table = ins
    return table[x.astype(np.int64) + 128]


def mul(ins: list[np.ndarray], attrs: A.MulAttrs) -> np.ndarray:
    a, b = ins
    return quant.requantize(a.astype(np.int64) * b.astype(np.int64), attrs.multiplier, attrs.shift)


def cache_write(ins: list[np.ndarray], attrs: A.NoAttrs) -> np.ndarray:
    """out = cache with out[b, positions[b, s]] = new[b, s], s in increasing order (a repeated position keeps
    the last row); a position outside [0, T) is an OpError (kernel exit code 16)."""
    cache, new, positions = ins
    _check_ids(positions, cache.shape[1], "CacheWrite positions")
    out = cache.copy()
    for b in range(new.shape[0]):
        for s in range(new.shape[1]):
            out[b, positions[b, s]] = new[b, s]
    return out


def splitmix_draw(seed: int, position: int) -> int:
    """Output number position + 1 of the SplitMix64 stream seeded with `seed` (u64; position as u32 bits): a pure
    function of (seed, position), so no generator state passes between decode steps."""
    z = (seed + ((position & 0xFFFFFFFF) + 1) * SPLITMIX_GAMMA) & U64
    z = ((z ^ (z >> 30)) * SPLITMIX_MIX1) & U64
    z = ((z ^ (z >> 27)) * SPLITMIX_MIX2) & U64
    return z ^ (z >> 31)


def sample_weights(x: np.ndarray, temperature_q16: int, table: np.ndarray, attrs: A.SampleAttrs) -> np.ndarray:
    """int64 weights ∝ exp(logit / T) of int32 logits `x` at a Q16.16 temperature > 0 (docs/ops.md "Sample")."""
    k = np.uint64((attrs.step_multiplier << 16) // temperature_q16)  # < 2^32: the steps per logit unit, F bits
    distance = (x.max() - x.astype(np.int64)).astype(np.uint64)  # < 2^32, so distance · k < 2^64
    u = np.minimum((distance * k) >> np.uint64(attrs.step_shift), SAMPLE_LAST_STEP).astype(np.int64)
    return table.astype(np.int64)[u & 255] >> (u >> 8)


def sample(ins: list[np.ndarray], attrs: A.SampleAttrs) -> np.ndarray:
    """The next token from logits [1, V]: the ArgMax (lowest id) at temperature 0, else the token whose interval
    of the weights' cumulative sum holds the draw of (seed, position) scaled onto the sum by a multiply-high."""
    logits, sampling, position, table = ins
    check_exp2_table(table, "Sample exp2 table")
    x = logits[0]
    seed_lo, seed_hi, temperature = (int(w) & 0xFFFFFFFF for w in sampling[:3])
    if temperature == 0:
        return np.array([np.argmax(x)], dtype=np.int32)
    cumulative = np.cumsum(sample_weights(x, temperature, table, attrs))
    draw = splitmix_draw(seed_lo | seed_hi << 32, int(position[0, 0]))
    target = ((draw >> 32) * int(cumulative[-1])) >> 32
    return np.array([np.searchsorted(cumulative, target, side="right")], dtype=np.int32)
