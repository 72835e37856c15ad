"""The numba transformer kernels (opml.llm.fast_ops) against the numpy references, bit for bit, on random shapes
and values, including the saturating and rounding edges (large multipliers, extreme int8 values)."""

from __future__ import annotations

import numpy as np
import pytest

from opml.llm import fast_ops as F
from opml.ml import attrs as A
from opml.ml import reference as R
from opml.ml import transformer_consts as C
from opml.ml.errors import OpError
from opml.ml.quant import quantize_multiplier


def _i8(rng, shape, extreme=False):
    if extreme:  # mostly the ends of the range: saturation and rounding ties
        return rng.choice(np.array([-128, -127, -1, 0, 1, 126, 127], dtype=np.int8), size=shape)
    return rng.integers(-128, 128, shape, dtype=np.int8)


def _multiplier(rng, low=-8, high=4):
    m0, shift = quantize_multiplier(float(2.0 ** rng.uniform(low, high)))
    return m0, shift


@pytest.mark.parametrize("seed", range(6))
def test_linear_equals_fully_connected_then_requantize(seed):
    rng = np.random.default_rng(seed)
    m, k, n = int(rng.integers(1, 6)), int(rng.integers(1, 700)), int(rng.integers(1, 90))
    x, w = _i8(rng, (m, k), extreme=seed % 2 == 1), _i8(rng, (n, k), extreme=seed % 2 == 1)
    b = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)  # wrap-around reachable
    acc = R.fully_connected([x, w, b], A.NoAttrs())
    assert np.array_equal(F.fully_connected(x, w, b), acc)
    pairs = [quantize_multiplier(float(2.0 ** rng.uniform(-20, 2))) for _ in range(n)]
    m0 = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    for relu in (False, True):
        attrs = A.RequantizeAttrs(multipliers=tuple(int(v) for v in m0), shifts=tuple(int(v) for v in shift),
                                  axis=1, relu=relu)
        expected = R.requantize([acc], attrs)
        assert np.array_equal(F.linear_requant(x, w, b, m0, shift, relu=relu), expected)
        assert np.array_equal(F.requantize_last_axis(acc, m0, shift, relu=relu), expected)


def test_linear_is_exact_for_the_longest_rows():
    """K = 5632 (TinyLlama's FFN) at the extremes: sums of ±2^14 products far beyond float32's exact range."""
    rng = np.random.default_rng(1)
    x = np.full((2, 5632), -128, dtype=np.int8)
    w = np.concatenate([np.full((1, 5632), -128, np.int8), _i8(rng, (3, 5632))])
    b = np.zeros(4, dtype=np.int32)
    assert np.array_equal(F.fully_connected(x, w, b), R.fully_connected([x, w, b], A.NoAttrs()))


@pytest.mark.parametrize("seed", range(4))
def test_add_and_mul(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 300)))
    a, b = _i8(rng, shape, extreme=seed % 2 == 1), _i8(rng, shape)
    ma, sa = _multiplier(rng, -2, 1)
    mb, sb = _multiplier(rng, -2, 1)
    add_attrs = A.AddAttrs(left_shift=int(rng.integers(0, 25)), a_multiplier=ma, a_shift=sa, b_multiplier=mb,
                           b_shift=sb, relu=bool(seed % 2))
    assert np.array_equal(F.add(a, b, add_attrs), R.add([a, b], add_attrs))
    mm, ms = _multiplier(rng, -12, -4)
    mul_attrs = A.MulAttrs(multiplier=mm, shift=ms)
    assert np.array_equal(F.mul(a, b, mul_attrs), R.mul([a, b], mul_attrs))


@pytest.mark.parametrize("seed", range(5))
def test_rms_norm(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.choice([1, 7, 64, 768, 2048]))
    x = _i8(rng, (int(rng.integers(1, 5)), d), extreme=seed == 3)
    if seed == 4:
        x[0] = 0  # a zero row: only epsilon under the square root
    gamma = rng.normal(0, 1, d)
    gain, _, attrs_dict = C.norm_constants(gamma, None, 1e-5, float(rng.uniform(0.005, 0.1)),
                                           float(rng.uniform(0.01, 0.1)))
    attrs = A.NormAttrs(**attrs_dict)
    assert np.array_equal(F.rms_norm(x, gain, attrs), R.rms_norm([x, gain], attrs))
    big = A.NormAttrs(epsilon=(1 << 44) if seed == 2 else 1, multiplier=attrs.multiplier, shift=attrs.shift)
    assert np.array_equal(F.rms_norm(x, gain, big), R.rms_norm([x, gain], big))


@pytest.mark.parametrize("half_split", [False, True])
def test_rope(half_split):
    rng = np.random.default_rng(7)
    table = C.rope_table(16, 40, frac_bits=14)
    x = _i8(rng, (2, 5, 3, 16), extreme=half_split)
    positions = rng.integers(0, 40, (2, 5)).astype(np.int32)
    attrs = A.RoPEAttrs(frac_bits=14, half_split=half_split)
    assert np.array_equal(F.rope(x, positions, table, attrs), R.rope([x, positions, table], attrs))
    with pytest.raises(OpError, match="RoPE positions"):
        F.rope(x, np.full((2, 5), 40, np.int32), table, attrs)


def test_cache_write_in_place_equals_reference():
    rng = np.random.default_rng(3)
    cache, new = _i8(rng, (1, 12, 2, 8)), _i8(rng, (1, 3, 2, 8))
    positions = np.array([[4, 9, 4]], dtype=np.int32)  # a repeated position keeps the last row
    expected = R.cache_write([cache, new, positions], A.NoAttrs())
    assert np.array_equal(F.cache_write_(cache, new, positions), expected)
    with pytest.raises(OpError, match="CacheWrite positions"):
        F.cache_write_(cache, new, np.array([[0, 1, 12]], dtype=np.int32))


@pytest.mark.parametrize("seed", range(6))
def test_attention(seed):
    """Causal decode against a partly filled cache, prefill rows, grouped-query heads, padding masks."""
    rng = np.random.default_rng(seed)
    kv_heads = int(rng.choice([1, 2]))
    heads, d, keys, seq = kv_heads * int(rng.choice([1, 2, 4])), int(rng.choice([4, 16, 64])), \
        int(rng.integers(1, 40)), int(rng.integers(1, 4))
    q = _i8(rng, (1, seq, heads, d), extreme=seed == 5)
    k, v = _i8(rng, (1, keys, kv_heads, d)), _i8(rng, (1, keys, kv_heads, d))
    positions = rng.integers(-1 if seed == 4 else 0, keys + 2, (1, seq)).astype(np.int32)
    key_mask = (rng.random((1, keys)) < 0.8).astype(np.int32) if seed % 2 else np.ones((1, keys), np.int32)
    scales = rng.uniform(0.01, 0.1, 4)
    attrs = A.AttentionAttrs(**C.attention_attrs(*scales, head_dim=d, causal=seed != 3))
    table = C.exp2_table()
    ins = [q, k, v, positions, key_mask, table]
    assert np.array_equal(F.attention(*ins, attrs), R.attention(ins, attrs))


@pytest.mark.parametrize("seed", range(8))
def test_sample(seed):
    """Greedy and sampled, on logits with many ties, wide and extreme values, any temperature and constants."""
    rng = np.random.default_rng(seed)
    table = C.exp2_table()
    for case in range(40):
        vocab = int(rng.integers(1, 3000))
        low, high = [(-3, 3), (-5000, 5000), (-(1 << 31), 1 << 31)][case % 3]
        logits = rng.integers(low, high, (1, vocab), dtype=np.int64).astype(np.int32)
        temperature = int(rng.choice([0, 1, 1 << 16, (1 << 32) - 1, int(rng.integers(1, 1 << 32))]))
        words = np.array([*rng.integers(0, 1 << 32, 2), temperature, 0], dtype=np.uint32).view(np.int32)
        position = rng.integers(-5, 4000, (1, 1), dtype=np.int32)
        attrs = A.SampleAttrs(**C.sample_attrs(float(2.0 ** rng.uniform(-14, 4))))
        inputs = [logits, words, position, table]
        assert np.array_equal(F.sample(*inputs, attrs), R.sample(inputs, attrs)), (case, temperature)
    with pytest.raises(OpError, match="Sample exp2 table"):
        F.sample(logits, words, position, np.zeros(256, np.int32), attrs)
