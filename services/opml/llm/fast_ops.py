"""numba kernels for the transformer ops of a decode step: the numpy references' bits, computed fast.

Each public function takes the reference's operands (docs/ops.md) and returns the reference's output bit for bit
(tests/differential/test_llm_fast_ops.py holds them to it on random shapes and values). The exact arithmetic:

- Linear layers (FullyConnected, optionally fused with its per-channel Requantize): int8 products summed in
  integer registers (int16 operands, int32 sums: |x·w| <= 2^14, so the dot products are exact for any K below
  2^17, which `linear_exact(K)` tells; the decoder leaves longer rows to the reference), the bias added in int64
  and the result wrapped to int32 like the reference. The weight rows are `[N, K]` contiguous, which is what a
  GEMV streams; `prange` splits the output channels over the cores, and a batch of rows (prefill) reads each
  weight row once for all of them.
- Requantization: gemmlowp's SRDHM and RoundingDivideByPOT in closed form on int64 (as opml.ml.fastnative):
  SRDHM(x, M0) = (x·M0 + 2^30) >> 31 and RDBPOT(v, s) = (v + 2^(s−1) − [v < 0]) >> s, arithmetic shifts.
- Attention reads only the keys a query can see (causal: t <= position), which are the only ones with a non-zero
  weight in the reference, so a decode step costs O(position), not O(cache length).
- Sample: one pass for the weights and their sum in unsigned 64-bit arithmetic (the reference's products fit
  2^64), the draw from the reference's SplitMix64 function, one pass for the pick; greedy is numpy's ArgMax.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from opml.ml import attrs as A
from opml.ml.errors import OpError
from opml.ml.reference import ATTENTION_PROB_BITS, NORM_FRAC_BITS, SAMPLE_LAST_STEP, check_exp2_table, \
    splitmix_draw

if numba.config.THREADING_LAYER == "default":
    # the work-queue layer wakes its threads per parallel region without spinning: OpenMP's spin-waiting threads
    # lose whole time slices on a machine whose cores are shared, which turns a 0.3 ms GEMV into 30 ms
    numba.config.THREADING_LAYER = "workqueue"

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


@njit(cache=True, inline="always")
def _rdbpot(v, exponent):
    """RoundingDivideByPOT on int64 v, 0 <= exponent <= 62 (ties away from zero)."""
    if exponent <= 0:
        return v
    return (v + (np.int64(1) << (exponent - 1)) - (1 if v < 0 else 0)) >> exponent


@njit(cache=True, inline="always")
def _mbqm(v, m0, shift):
    """MultiplyByQuantizedMultiplier(v, M0, shift) of opml.ml.quant, on an int32 value held in int64."""
    v = np.int64(v)
    if shift < 0:
        v = v << (-shift)
        if v > INT32_MAX:
            v = np.int64(INT32_MAX)
        elif v < INT32_MIN:
            v = np.int64(INT32_MIN)
    v = (v * np.int64(m0) + (np.int64(1) << 30)) >> 31
    if shift > 0:
        v = _rdbpot(v, shift)
    return v


@njit(cache=True, inline="always")
def _sat8(v, low):
    if v > 127:
        return np.int8(127)
    if v < low:
        return np.int8(low)
    return np.int8(v)


# -- linear layers ---------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def _linear_i32(x16, w, b, out):
    """out[m, j] = wrap32(Σ_k x[m, k]·w[j, k] + b[j]); x16 is x widened to int16 (so products are int16·int16)."""
    rows, k = x16.shape
    n = w.shape[0]
    for j in prange(n):
        wrow = w[j]
        bias = np.int64(b[j])
        for m in range(rows):
            xrow = x16[m]
            acc = np.int32(0)
            for i in range(k):  # int32 sums: exact for K < 2^17, and LLVM turns the loop into multiply-adds
                acc = np.int32(acc + np.int32(np.int16(wrow[i]) * xrow[i]))
            out[m, j] = np.int32(np.int64(acc) + bias)


@njit(cache=True, parallel=True)
def _linear_requant(x16, w, b, m0, shift, low, out):
    """out[m, j] = sat8(MBQM(wrap32(Σ_k x[m, k]·w[j, k] + b[j]), M0[j], shift[j])): FullyConnected + Requantize."""
    rows, k = x16.shape
    n = w.shape[0]
    for j in prange(n):
        wrow = w[j]
        bias = np.int64(b[j])
        mj, sj = m0[j], shift[j]
        for m in range(rows):
            xrow = x16[m]
            acc = np.int32(0)
            for i in range(k):  # int32 sums: exact for K < 2^17, and LLVM turns the loop into multiply-adds
                acc = np.int32(acc + np.int32(np.int16(wrow[i]) * xrow[i]))
            out[m, j] = _sat8(_mbqm(np.int32(np.int64(acc) + bias), mj, sj), low)


MAX_K = 1 << 17  # K·2^14 < 2^31


def linear_exact(k: int) -> bool:
    """True when the int32 dot products of the linear kernels are exact for rows of length k."""
    return k < MAX_K


def fully_connected(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FullyConnected: x int8 [M, K], w int8 [N, K], b int32 [N] → int32 [M, N] (K < 2^17)."""
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int32)
    _linear_i32(x.astype(np.int16), w, b, out)
    return out


def linear_requant(x: np.ndarray, w: np.ndarray, b: np.ndarray, m0: np.ndarray, shift: np.ndarray,
                   relu: bool = False) -> np.ndarray:
    """FullyConnected followed by a per-output-channel Requantize: int8 [M, K] → int8 [M, N].

    m0, shift: int64 [N] (a per-tensor Requantize passes its pair repeated N times).
    """
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int8)
    _linear_requant(x.astype(np.int16), w, b, m0, shift, 0 if relu else -128, out)
    return out


# -- requantization, residual add, product, norms --------------------------------------------------------------


@njit(cache=True)
def _requantize_rows(x, m0, shift, low, out):
    rows, n = x.shape
    for r in range(rows):
        for j in range(n):
            out[r, j] = _sat8(_mbqm(x[r, j], m0[j], shift[j]), low)


def requantize_last_axis(x: np.ndarray, m0: np.ndarray, shift: np.ndarray, relu: bool = False) -> np.ndarray:
    """Requantize int32 [..., N] with one (M0, shift) per last-axis channel (int64 [N] each) → int8."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, dtype=np.int8)
    _requantize_rows(flat, m0, shift, 0 if relu else -128, out)
    return out.reshape(x.shape)


@njit(cache=True)
def _add(a, b, left, ma, sa, mb, sb, low, out):
    for i in range(a.size):
        va = _mbqm(np.int64(a[i]) << left, ma, sa)
        vb = _mbqm(np.int64(b[i]) << left, mb, sb)
        total = va + vb
        if total > INT32_MAX:
            total = np.int64(INT32_MAX)
        elif total < INT32_MIN:
            total = np.int64(INT32_MIN)
        out[i] = _sat8(_rdbpot(total, left), low)


def add(a: np.ndarray, b: np.ndarray, attrs: A.AddAttrs) -> np.ndarray:
    """Add (the residual connection) of two int8 tensors of the same shape."""
    out = np.empty(a.shape, dtype=np.int8)
    _add(a.reshape(-1), b.reshape(-1), attrs.left_shift, attrs.a_multiplier, attrs.a_shift, attrs.b_multiplier,
         attrs.b_shift, 0 if attrs.relu else -128, out.reshape(-1))
    return out


@njit(cache=True)
def _mul(a, b, m0, shift, out):
    for i in range(a.size):
        out[i] = _sat8(_mbqm(np.int64(a[i]) * np.int64(b[i]), m0, shift), -128)


def mul(a: np.ndarray, b: np.ndarray, attrs: A.MulAttrs) -> np.ndarray:
    """Mul (the SwiGLU product) of two int8 tensors of the same shape."""
    out = np.empty(a.shape, dtype=np.int8)
    _mul(a.reshape(-1), b.reshape(-1), attrs.multiplier, attrs.shift, out.reshape(-1))
    return out


@njit(cache=True)
def _isqrt(a):
    """floor(sqrt(a)) for int64 0 <= a < 2^62 (a float estimate corrected in integers)."""
    r = np.int64(np.sqrt(np.float64(a)))
    while r * r > a:
        r -= 1
    while (r + 1) * (r + 1) <= a:
        r += 1
    return r


@njit(cache=True)
def _bit_length(a):
    n = 0
    while a > 0:
        a >>= 1
        n += 1
    return n


@njit(cache=True, parallel=True)
def _rms_norm(x, gain, epsilon, m0, shift, out):
    rows, d = x.shape
    for r in prange(rows):
        row = x[r]
        squares = np.int64(0)
        for j in range(d):
            v = np.int64(row[j])
            squares += v * v
        a = d * squares + epsilon
        p = (62 - _bit_length(a)) >> 1
        q = ((np.int64(1) << 61) - 1) // _isqrt(a << (2 * p))
        exponent = 61 - NORM_FRAC_BITS - p
        for j in range(d):
            n = _rdbpot(d * np.int64(row[j]) * q, exponent)
            y = (n * np.int64(gain[j]) + (np.int64(1) << 30)) >> 31
            out[r, j] = _sat8(_mbqm(y, m0, shift), -128)


def rms_norm(x: np.ndarray, gain: np.ndarray, attrs: A.NormAttrs) -> np.ndarray:
    """RMSNorm over the last axis: int8 [..., D], gain int32 [D] → int8 [..., D]."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, dtype=np.int8)
    _rms_norm(flat, gain, attrs.epsilon, attrs.multiplier, attrs.shift, out)
    return out.reshape(x.shape)


# -- position-dependent ops ------------------------------------------------------------------------------------


def _check_positions(positions: np.ndarray, limit: int, what: str) -> None:
    if positions.size and (positions.min() < 0 or positions.max() >= limit):
        raise OpError(f"{what} out of range [0, {limit}): min {positions.min()}, max {positions.max()}")


@njit(cache=True)
def _rope(x, positions, table, frac_bits, half_split, out):
    batch, seq, heads, d = x.shape
    half = d // 2
    for b in range(batch):
        for s in range(seq):
            cs = table[positions[b, s]]
            for h in range(heads):
                src, dst = x[b, s, h], out[b, s, h]
                for i in range(half):
                    c, sn = np.int64(cs[2 * i]), np.int64(cs[2 * i + 1])
                    i1, i2 = (i, i + half) if half_split else (2 * i, 2 * i + 1)
                    x1, x2 = np.int64(src[i1]), np.int64(src[i2])
                    dst[i1] = _sat8(_rdbpot(x1 * c - x2 * sn, frac_bits), -128)
                    dst[i2] = _sat8(_rdbpot(x1 * sn + x2 * c, frac_bits), -128)


def rope(x: np.ndarray, positions: np.ndarray, table: np.ndarray, attrs: A.RoPEAttrs) -> np.ndarray:
    """RoPE on int8 [B, S, H, d] at int32 positions [B, S] with the int32 cos/sin table [P, d]."""
    _check_positions(positions, table.shape[0], "RoPE positions")
    out = np.empty(x.shape, dtype=np.int8)
    _rope(x, positions, table, attrs.frac_bits, attrs.half_split, out)
    return out


def cache_write_(cache: np.ndarray, new: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """CacheWrite in place: cache[b, positions[b, s]] = new[b, s] for s in order; returns `cache` (the
    reference returns a written copy; a decode loop owns its cache and needs no copy)."""
    _check_positions(positions, cache.shape[1], "CacheWrite positions")
    for b in range(new.shape[0]):
        for s in range(new.shape[1]):
            cache[b, positions[b, s]] = new[b, s]
    return cache


@njit(cache=True, parallel=True)
def _attention(q, k, v, positions, key_mask, table, ms, ss, mo, so, causal, out):
    batch, seq, heads, d = q.shape
    keys, kv_heads = k.shape[1], k.shape[2]
    group = heads // kv_heads
    for task in prange(batch * seq * heads):
        b = task // (seq * heads)
        s = (task // heads) % seq
        h = task % heads
        g = h // group
        limit = keys
        if causal:
            limit = min(keys, max(positions[b, s] + 1, 0))
        qrow = q[b, s, h]
        scores = np.empty(limit, dtype=np.int64)
        top = np.iinfo(np.int64).min
        for t in range(limit):
            if key_mask[b, t] == 0:
                continue
            krow = k[b, t, g]
            acc = np.int64(0)
            for i in range(d):
                acc += np.int64(qrow[i]) * np.int64(krow[i])
            scores[t] = acc
            if acc > top:
                top = acc
        weights = np.zeros(limit, dtype=np.int64)
        total = np.int64(0)
        for t in range(limit):
            if key_mask[b, t] == 0:
                continue
            u = _mbqm(top - scores[t], ms, ss)
            e = np.int64(table[u & 255]) >> min(u >> 8, 31)
            weights[t] = e
            total += e
        acc_out = np.zeros(d, dtype=np.int64)
        if total > 0:
            half = total // 2
            for t in range(limit):
                if weights[t] == 0:
                    continue
                prob = ((weights[t] << ATTENTION_PROB_BITS) + half) // total
                vrow = v[b, t, g]
                for j in range(d):
                    acc_out[j] += prob * np.int64(vrow[j])
        dst = out[b, s, h]
        for j in range(d):
            dst[j] = _sat8(_mbqm(acc_out[j], mo, so), -128)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, positions: np.ndarray, key_mask: np.ndarray,
              table: np.ndarray, attrs: A.AttentionAttrs) -> np.ndarray:
    """Attention (docs/ops.md) of int8 q [B, S, H, d] against k, v [B, T, H_kv, d] → int8 [B, S, H, d]."""
    check_exp2_table(table)
    out = np.empty(q.shape, dtype=np.int8)
    _attention(q, k, v, positions, key_mask, table, attrs.score_multiplier, attrs.score_shift,
               attrs.out_multiplier, attrs.out_shift, attrs.causal, out)
    return out


@njit(cache=True)
def _sampled(x, k, shift, table, draw_hi):
    """The token whose interval of the exp2 weights' cumulative sum holds ((draw_hi · Σw) >> 32)."""
    top = np.int64(x.max())
    last, k64, shift64 = np.uint64(SAMPLE_LAST_STEP), np.uint64(k), np.uint64(shift)
    weights = np.empty(x.shape[0], dtype=np.int64)
    total = np.int64(0)
    for j in range(x.shape[0]):
        u = (np.uint64(top - np.int64(x[j])) * k64) >> shift64
        step = np.int64(min(u, last))
        weights[j] = np.int64(table[step & 255]) >> (step >> 8)
        total += weights[j]
    target = np.int64((np.uint64(draw_hi) * np.uint64(total)) >> np.uint64(32))
    cumulative = np.int64(0)
    for j in range(x.shape[0]):
        cumulative += weights[j]
        if cumulative > target:
            return j
    return x.shape[0]


def sample(logits: np.ndarray, sampling: np.ndarray, position: np.ndarray, table: np.ndarray,
           attrs: A.SampleAttrs) -> np.ndarray:
    """Sample (docs/ops.md) of int32 logits [1, V] → int32 [1]. `position` may hold a batch's positions
    (prefill): the logits are the last row's, so its position is the last one."""
    check_exp2_table(table, "Sample exp2 table")
    seed_lo, seed_hi, temperature = (int(w) & 0xFFFFFFFF for w in sampling[:3])
    x = logits[-1]
    if temperature == 0:
        return np.array([np.argmax(x)], dtype=np.int32)
    draw = splitmix_draw(seed_lo | seed_hi << 32, int(position.ravel()[-1]))
    k = (attrs.step_multiplier << 16) // temperature
    return np.array([_sampled(x, k, attrs.step_shift, table, draw >> 32)], dtype=np.int32)
