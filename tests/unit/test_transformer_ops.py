"""The transformer ops' numpy semantics (docs/ops.md "Transformer ops"): the integer inverse square root is
exact, each op stays within a rounding step or two of its float meaning when built with transformer_consts, the
discrete rules (masks, GQA, repeated cache positions) hold, and bad shapes/attributes are one clear OpError."""

from __future__ import annotations

import math

import numpy as np
import pytest

from opml.ml import ops
from opml.ml import transformer_consts as tc
from opml.ml.errors import ModelError, OpError
from opml.ml.model import Model, TensorSpec
from opml.ml.ops import OpType
from opml.ml.reference import inverse_sqrt, isqrt64
from opml.ml.tensor import TensorType

RNG = np.random.default_rng(12)


def run(op: OpType, inputs: list[np.ndarray], attrs: dict | None = None) -> np.ndarray:
    return ops.evaluate(op, inputs, ops.parse_attrs(op, attrs))


def test_isqrt64_is_the_exact_floor_square_root() -> None:
    values = [0, 1, 2, 3, 4, 15, 16, 17, (1 << 62) - 1, (1 << 60), ((1 << 31) - 1) ** 2, ((1 << 31) - 1) ** 2 - 1]
    values += [int(v) for v in RNG.integers(0, 1 << 62, 2000, dtype=np.int64)]
    got = isqrt64(np.array(values, dtype=np.int64))
    assert [int(r) for r in got] == [math.isqrt(v) for v in values]


def test_inverse_sqrt_is_a_31_bit_reciprocal_square_root() -> None:
    a = np.concatenate([np.arange(1, 2000), RNG.integers(1, 1 << 45, 5000, dtype=np.int64), [1 << 45]])
    q, p = inverse_sqrt(a)
    assert (q > 1 << 30).all() and (q < 1 << 31).all() and (p >= 8).all() and (p <= 30).all()
    approx = q.astype(np.float64) * np.exp2(p.astype(np.float64) - 61)
    assert np.abs(approx * np.sqrt(a.astype(np.float64)) - 1).max() < 2.0 ** -29


def _norm_case(d: int, kind: OpType) -> tuple[np.ndarray, np.ndarray]:
    x = RNG.integers(-128, 128, (5, d), dtype=np.int8)
    gamma, beta = RNG.uniform(-3, 3, d), RNG.uniform(-1, 1, d)
    sx, so = 0.02, 0.04
    gain, bias, attrs = tc.norm_constants(gamma, beta if kind is OpType.LAYER_NORM else None, 1e-5, sx, so)
    xf = x * sx
    if kind is OpType.RMS_NORM:
        expected = xf / np.sqrt((xf ** 2).mean(-1, keepdims=True) + 1e-5) * gamma
        out = run(kind, [x, gain], attrs)
    else:
        centered = xf - xf.mean(-1, keepdims=True)
        expected = centered / np.sqrt(xf.var(-1, keepdims=True) + 1e-5) * gamma + beta
        out = run(kind, [x, gain, bias], attrs)
    return out, np.clip(np.round(expected / so), -128, 127)


@pytest.mark.parametrize("kind", [OpType.RMS_NORM, OpType.LAYER_NORM], ids=lambda k: k.value)
@pytest.mark.parametrize("d", [1, 7, 64, 4096])
def test_norms_round_their_float_value(kind: OpType, d: int) -> None:
    out, expected = _norm_case(d, kind)
    assert np.abs(out - expected).max() <= 1


def _float_attention(q, k, v, positions, mask, causal, scales) -> np.ndarray:  # noqa: ANN001
    sq, sk, sv, so = scales
    group = q.shape[2] // k.shape[2]
    kh, vh = np.repeat(k * sk, group, axis=2), np.repeat(v * sv, group, axis=2)
    scores = np.einsum("bshi,bthi->bsht", q * sq, kh) / math.sqrt(q.shape[-1])
    visible = (mask != 0)[:, None, None, :]
    if causal:
        visible = visible & (np.arange(k.shape[1])[None, None, None, :] <= positions[:, :, None, None])
    scores = np.where(visible, scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    weights = np.where(visible, np.exp(scores - np.where(np.isfinite(top), top, 0)), 0)
    weights = weights / np.maximum(weights.sum(-1, keepdims=True), 1e-300)
    return np.clip(np.round(np.einsum("bsht,bthj->bshj", weights, vh) / so), -128, 127)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_rounds_float_attention_with_gqa_and_masks(causal: bool) -> None:
    b, s, h, kv, d, t = 2, 3, 4, 2, 16, 9
    q, k, v = (RNG.integers(-128, 128, shape, dtype=np.int8) for shape in [(b, s, h, d), (b, t, kv, d), (b, t, kv, d)])
    positions = np.array([[0, 4, 8], [2, 3, 7]], dtype=np.int32)
    mask = (RNG.random((b, t)) > 0.3).astype(np.int32)
    mask[:, 0] = 1
    scales = (0.01, 0.012, 0.02, 0.01)
    out = run(OpType.ATTENTION, [q, k, v, positions, mask, tc.exp2_table()],
              tc.attention_attrs(*scales, head_dim=d, causal=causal))
    assert np.abs(out - _float_attention(q, k, v, positions, mask, causal, scales)).max() <= 2


def test_attention_without_a_visible_key_outputs_zero() -> None:
    q, k = np.ones((1, 1, 1, 2), np.int8), np.ones((1, 3, 1, 2), np.int8)
    attrs = tc.attention_attrs(0.1, 0.1, 0.1, 0.1, 2, causal=True)
    out = run(OpType.ATTENTION, [q, k, k, np.array([[-1]], np.int32), np.ones((1, 3), np.int32), tc.exp2_table()],
              attrs)
    assert not out.any()


@pytest.mark.parametrize("half_split", [False, True])
def test_rope_rotates_pairs_within_half_a_step(half_split: bool) -> None:
    d, max_pos = 8, 12
    x = RNG.integers(-90, 91, (1, 4, 2, d), dtype=np.int8)
    positions = np.array([[0, 3, 7, 11]], dtype=np.int32)
    out = run(OpType.ROPE, [x, positions, tc.rope_table(d, max_pos, 500.0, 16)],
              {"frac_bits": 16, "half_split": half_split})
    angles = positions[0][:, None] * 500.0 ** (-np.arange(0, d, 2) / d)
    cos, sin = np.cos(angles)[None, :, None, :], np.sin(angles)[None, :, None, :]
    first, second = (np.s_[..., : d // 2], np.s_[..., d // 2:]) if half_split else (np.s_[..., 0::2], np.s_[..., 1::2])
    expected = np.empty(x.shape)
    expected[first] = x[first] * cos - x[second] * sin
    expected[second] = x[first] * sin + x[second] * cos
    assert np.abs(out - expected).max() <= 0.51
    assert np.array_equal(out[:, 0], x[:, 0])  # position 0 is the identity


def test_lut_and_mul_build_a_swiglu_within_a_step() -> None:
    gate, up = RNG.integers(-128, 128, 500, dtype=np.int8), RNG.integers(-128, 128, 500, dtype=np.int8)
    silu = run(OpType.LUT, [gate, tc.lut_from_function(tc.silu, 0.05, 0.04)])
    assert np.abs(silu - np.clip(np.round(tc.silu(gate * 0.05) / 0.04), -128, 127)).max() == 0
    prod = run(OpType.MUL, [silu, up], tc.mul_attrs(0.04, 0.03, 0.02))
    assert np.abs(prod - np.clip(np.round(silu * 0.04 * up * 0.03 / 0.02), -128, 127)).max() <= 1


def test_gelu_forms_agree_and_tables_are_constants_of_the_right_shape() -> None:
    x = np.linspace(-6, 6, 101)
    assert np.abs(tc.gelu_erf(x) - tc.gelu_tanh(x)).max() < 1e-3
    table = tc.exp2_table()
    assert table.dtype == np.int32 and table[0] == 1 << 16 and (np.diff(table) <= 0).all() and table[-1] > 1 << 15
    rope = tc.rope_table(6, 3, 10000.0, 14)
    assert rope.shape == (3, 6) and list(rope[0]) == [1 << 14, 0] * 3


def test_cache_write_keeps_the_last_row_for_a_repeated_position_and_gather_reads_rows() -> None:
    cache = np.zeros((1, 4, 2), np.int8)
    new = np.array([[[1, 1], [2, 2], [3, 3]]], np.int8)
    out = run(OpType.CACHE_WRITE, [cache, new, np.array([[2, 0, 2]], np.int32)])
    assert out[0].tolist() == [[2, 2], [0, 0], [3, 3], [0, 0]] and not cache.any()
    table = np.arange(12, dtype=np.int32).reshape(4, 3)
    assert run(OpType.GATHER, [table, np.array([[3, 0]], np.int32)]).tolist() == [[[9, 10, 11], [0, 1, 2]]]


def test_matmul_is_the_exact_batched_product() -> None:
    a, b = RNG.integers(-128, 128, (3, 4, 5), dtype=np.int8), RNG.integers(-128, 128, (3, 6, 5), dtype=np.int8)
    expected = np.einsum("bmk,bnk->bmn", a.astype(np.int64), b.astype(np.int64))
    assert np.array_equal(run(OpType.MATMUL, [a, b], {"transpose_b": True}), expected)
    bt = np.ascontiguousarray(b.transpose(0, 2, 1))
    assert np.array_equal(run(OpType.MATMUL, [a, bt]), expected)


@pytest.mark.parametrize("op, types, attrs, message", [
    (OpType.ATTENTION, [TensorType("int8", (1, 1, 3, 4)), TensorType("int8", (1, 2, 2, 4)),
                        TensorType("int8", (1, 2, 2, 4)), TensorType("int32", (1, 1)), TensorType("int32", (1, 2)),
                        TensorType("int32", (256,))], {"score_multiplier": 0, "score_shift": 0, "out_multiplier": 0,
                                                         "out_shift": 0}, "not a multiple"),
    (OpType.ROPE, [TensorType("int8", (1, 1, 1, 3)), TensorType("int32", (1, 1)), TensorType("int32", (4, 3))],
     {}, "even"),
    (OpType.RMS_NORM, [TensorType("int8", (2, 4)), TensorType("int32", (3,))],
     {"multiplier": 0, "shift": 0}, "gain"),
    (OpType.CACHE_WRITE, [TensorType("int8", (1, 4, 2)), TensorType("int8", (1, 1, 3)), TensorType("int32", (1, 1))],
     {}, "do not fit"),
    (OpType.GATHER, [TensorType("int8", (4, 2)), TensorType("int8", (3,))], {}, "ids"),
    (OpType.MATMUL, [TensorType("int8", (1, 2, 3)), TensorType("int8", (1, 4, 3))], {}, "disagree"),
])
def test_bad_shapes_are_one_clear_op_error(op, types, attrs, message) -> None:  # noqa: ANN001
    with pytest.raises(OpError, match=message):
        ops.infer(op, types, ops.parse_attrs(op, attrs))


@pytest.mark.parametrize("op, attrs", [
    (OpType.RMS_NORM, {"epsilon": 0, "multiplier": 0, "shift": 0}),
    (OpType.LAYER_NORM, {"multiplier": 5, "shift": 0}),
    (OpType.ROPE, {"frac_bits": 31}),
    (OpType.MUL, {"multiplier": 1 << 30}),
    (OpType.ATTENTION, {"score_multiplier": 0, "score_shift": 0, "out_multiplier": 0, "out_shift": 0, "x": 1}),
])
def test_bad_attributes_are_rejected(op, attrs) -> None:  # noqa: ANN001
    with pytest.raises(OpError, match="invalid attributes"):
        ops.parse_attrs(op, attrs)


def test_a_model_whose_attention_table_is_not_a_constant_is_rejected() -> None:
    from opml.ml.model import Node

    types = [("q", (1, 1, 1, 2), "int8"), ("k", (1, 2, 1, 2), "int8"), ("pos", (1, 1), "int32"),
             ("mask", (1, 2), "int32"), ("exp2", (256,), "int32"), ("out", (1, 1, 1, 2), "int8")]
    tensors = [TensorSpec(name, dtype, shape, constant=name in ("k", "pos", "mask")) for name, shape, dtype in types]
    constants = {1: np.zeros((1, 2, 1, 2), np.int8), 2: np.zeros((1, 1), np.int32), 3: np.ones((1, 2), np.int32)}
    node = Node.make("Attention", [0, 1, 1, 2, 3, 4], 5, {"score_multiplier": 0, "score_shift": 0,
                                                         "out_multiplier": 0, "out_shift": 0})
    model = Model("m", tensors, [0, 4], [5], [node], constants)
    with pytest.raises(ModelError, match="Attention table .* must be a constant"):
        model.validate()


def test_norm_constants_take_a_subnormal_gain() -> None:
    """γ = 5e-324 (found by hypothesis): 2^(31 − G) would overflow a float; the gain is still 2^30, the bias
    saturates and the multiplier underflows to 0 (an all-zero output)."""
    gain, bias, attrs = tc.norm_constants(np.array([5e-324]), np.array([1.5]), 1e-5, 1.0, 1.0)
    assert gain.tolist() == [1 << 30] and bias.tolist() == [(1 << 31) - 1]
    assert attrs["multiplier"] == 0
