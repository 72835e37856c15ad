"""Constants a model builder computes once for the transformer ops (docs/ops.md): tables and multipliers.

Pure functions, floats allowed: they run when a model is built, and what they return is then a committed constant
(a tensor of the model or an op attribute), so no floating point runs at inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .quant import INT32_MAX, quantize_multiplier
from .reference import ATTENTION_PROB_BITS, NORM_FRAC_BITS, SOFTMAX_TABLE_MAX
from .shapes import EXP2_TABLE_SIZE, LUT_SIZE, MAX_NORM_AXIS

EPSILON_MAX = 1 << 44


def exp2_table() -> np.ndarray:
    """The Attention exp table: T[f] = round(2^16 · 2^(−f/256)), f = 0..255 (int32; T[0] = 2^16)."""
    f = np.arange(EXP2_TABLE_SIZE, dtype=np.float64)
    return np.round(SOFTMAX_TABLE_MAX * np.exp2(-f / EXP2_TABLE_SIZE)).astype(np.int32)


def attention_attrs(q_scale: float, k_scale: float, v_scale: float, out_scale: float, head_dim: int,
                    causal: bool) -> dict:
    """Attention attributes for int8 q, k, v of the given scales and an int8 output of scale out_scale.

    score multiplier = S_q·S_k / sqrt(head_dim) · 256 / ln 2 (score differences in 1/256 steps of log2),
    out multiplier = S_v / (2^15 · S_out) (the probabilities carry 15 fraction bits).
    """
    sm, ss = quantize_multiplier(q_scale * k_scale / math.sqrt(head_dim) * EXP2_TABLE_SIZE / math.log(2))
    om, os_ = quantize_multiplier(v_scale / (out_scale * (1 << ATTENTION_PROB_BITS)))
    return {"score_multiplier": sm, "score_shift": ss, "out_multiplier": om, "out_shift": os_,
            "causal": bool(causal)}


def rope_table(head_dim: int, max_pos: int, theta: float = 10000.0, frac_bits: int = 14) -> np.ndarray:
    """RoPE cos/sin table int32 [max_pos, head_dim]: [p, 2i] = round(cos(p·θ_i)·2^F), [p, 2i + 1] =
    round(sin(p·θ_i)·2^F) with θ_i = theta^(−2i/head_dim), i < head_dim/2 (llama's frequencies)."""
    if head_dim % 2 or head_dim < 2 or max_pos < 1:
        raise ValueError(f"rope_table: head_dim must be even and positive, max_pos >= 1 "
                         f"(got {head_dim}, {max_pos})")
    inv_freq = float(theta) ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(max_pos, dtype=np.float64)[:, None] * inv_freq[None, :]
    table = np.empty((max_pos, head_dim), dtype=np.float64)
    table[:, 0::2], table[:, 1::2] = np.cos(angles), np.sin(angles)
    return np.round(table * (1 << frac_bits)).astype(np.int32)


def lut_from_function(f: Callable[[np.ndarray], np.ndarray], in_scale: float, out_scale: float) -> np.ndarray:
    """The Lut table of f for int8 inputs of scale in_scale and int8 outputs of scale out_scale:
    T[i] = sat8(round(f((i − 128) · in_scale) / out_scale)), i = 0..255 (int8; entry i serves input i − 128)."""
    x = (np.arange(LUT_SIZE, dtype=np.float64) - 128) * in_scale
    return np.clip(np.round(np.asarray(f(x), dtype=np.float64) / out_scale), -128, 127).astype(np.int8)


def silu(x: np.ndarray) -> np.ndarray:
    """x · sigmoid(x)."""
    return x / (1.0 + np.exp(-x))


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """0.5 · x · (1 + erf(x / sqrt 2)) (the exact GELU)."""
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³))) (the tanh approximation)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def norm_constants(gamma: np.ndarray, beta: np.ndarray | None, eps: float, in_scale: float,
                   out_scale: float) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(gain, bias, attrs) of an RMSNorm (beta None) or LayerNorm over D = len(gamma) channels.

    gain g = round(γ · 2^(31 − G)) with G = floor(log2 max|γ|) + 1 (so |g| < 2^31); bias = round(β · 2^(22 − G));
    epsilon = round(eps · D² / S_in²) clamped to [1, 2^44]; multiplier ≈ 2^(G − 22) / S_out.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    d = gamma.shape[0]
    if gamma.ndim != 1 or not 1 <= d <= MAX_NORM_AXIS:
        raise ValueError(f"norm_constants: gamma must be a vector of 1..{MAX_NORM_AXIS} entries, got {gamma.shape}")
    top = float(np.abs(gamma).max())
    g_exp = math.floor(math.log2(top)) + 1 if top > 0 else 0
    # ldexp, not a power of two: 2^(31 − G) overflows a float for a subnormal max |γ| (the products are exact)
    gain = np.clip(np.round(np.ldexp(gamma, 31 - g_exp)), -INT32_MAX, INT32_MAX).astype(np.int32)
    bias = None
    if beta is not None:
        with np.errstate(over="ignore"):  # a bias beyond int32 saturates
            scaled = np.ldexp(np.asarray(beta, dtype=np.float64), NORM_FRAC_BITS - g_exp)
        bias = np.clip(np.round(scaled), -INT32_MAX, INT32_MAX).astype(np.int32)
    epsilon = int(min(max(round(eps * d * d / (in_scale * in_scale)), 1), EPSILON_MAX))
    m0, shift = quantize_multiplier(2.0 ** (g_exp - NORM_FRAC_BITS) / out_scale)
    return gain, bias, {"epsilon": epsilon, "multiplier": m0, "shift": shift}


def mul_attrs(a_scale: float, b_scale: float, out_scale: float) -> dict:
    """Mul attributes: multiplier ≈ S_a · S_b / S_out."""
    m0, shift = quantize_multiplier(a_scale * b_scale / out_scale)
    return {"multiplier": m0, "shift": shift}


def causal_positions(first: int, count: int, batch: int = 1) -> np.ndarray:
    """int32 [batch, count] positions first, first + 1, …: the queries of a decode step or prefill chunk."""
    return np.tile(np.arange(first, first + count, dtype=np.int32), (batch, 1))


SAMPLE_MULTIPLIER_LIMIT = 1 << 16


def sample_attrs(logit_scale: float) -> dict:
    """Sample attributes for int32 logits of scale `logit_scale`: step_multiplier / 2^step_shift ≈
    256 · logit_scale / ln 2 (1/256 steps of log2 per logit unit at temperature 1), with the largest shift ≤ 31
    that keeps the multiplier below 2^16 (so that the kernel's multiplier · 2^16 / temperature fits 32 bits);
    ValueError when that leaves fewer than 14 significant bits or no shift fits."""
    steps = EXP2_TABLE_SIZE * logit_scale / math.log(2)
    for shift in range(31, -1, -1):
        multiplier = round(steps * 2.0 ** shift)
        if multiplier < SAMPLE_MULTIPLIER_LIMIT:
            if multiplier < SAMPLE_MULTIPLIER_LIMIT >> 2:  # fewer than 14 significant bits
                break
            return {"step_multiplier": multiplier, "step_shift": shift}
    raise ValueError(f"logit scale {logit_scale} gives {steps} steps per logit unit, outside "
                     f"[2^-17, 2^16) for the Sample op")
