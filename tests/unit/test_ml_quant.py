"""opml.ml.quant equals independent big-integer definitions of the gemmlowp primitives (docs/ops.md)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opml.ml import quant
from opml.ml.errors import QuantError

I32 = st.integers(quant.INT32_MIN, quant.INT32_MAX)
M0 = st.one_of(st.just(0), st.integers(quant.M0_MIN, quant.M0_LIMIT - 1))
SHIFT = st.integers(quant.SHIFT_MIN, quant.SHIFT_MAX)


def srdhm_def(a: int, b: int) -> int:
    """a·b/2^31 to nearest, exact ties toward +inf; the one overflow saturates."""
    if a == b == quant.INT32_MIN:
        return quant.INT32_MAX
    q = Fraction(a * b, 1 << 31)
    return (q + Fraction(1, 2)).__floor__()


def rdbpot_def(x: int, e: int) -> int:
    """x/2^e to nearest, ties away from zero."""
    q = Fraction(x, 1 << e)
    magnitude = (abs(q) + Fraction(1, 2)).__floor__()
    return magnitude if x >= 0 else -magnitude


def mbqm_def(x: int, m0: int, shift: int) -> int:
    shifted = max(quant.INT32_MIN, min(quant.INT32_MAX, x * (1 << max(-shift, 0))))
    return rdbpot_def(srdhm_def(shifted, m0), max(shift, 0))


@settings(max_examples=400, deadline=None)
@given(I32, I32)
def test_srdhm_matches_definition(a, b):
    assert int(quant.srdhm(a, b)) == srdhm_def(a, b)


@pytest.mark.parametrize("a, b, expected", [
    (1 << 15, 1 << 15, 1),  # +0.5 -> 1
    (-(1 << 15), 1 << 15, 0),  # -0.5 -> 0 (gemmlowp's nudge: ties toward +inf)
    (-3 << 15, 1 << 15, -1),  # -1.5 -> -1
    (quant.INT32_MIN, quant.INT32_MIN, quant.INT32_MAX),  # the only overflow saturates
    (quant.INT32_MIN, quant.INT32_MAX, -quant.INT32_MAX),
])
def test_srdhm_ties_and_saturation(a, b, expected):
    assert int(quant.srdhm(a, b)) == expected


@settings(max_examples=400, deadline=None)
@given(I32, st.integers(0, 31))
def test_rounding_divide_by_pot_matches_definition(x, e):
    assert int(quant.rounding_divide_by_pot(x, e)) == rdbpot_def(x, e)


@pytest.mark.parametrize("x, e, expected", [(5, 1, 3), (-5, 1, -3), (6, 2, 2), (-6, 2, -2), (-7, 2, -2), (7, 0, 7)])
def test_rounding_divide_by_pot_ties_away_from_zero(x, e, expected):
    assert int(quant.rounding_divide_by_pot(x, e)) == expected


def test_rounding_divide_by_pot_rejects_bad_exponent():
    with pytest.raises(QuantError, match="exponent"):
        quant.rounding_divide_by_pot(1, 32)


@settings(max_examples=400, deadline=None)
@given(I32, M0, SHIFT)
def test_multiply_by_quantized_multiplier_matches_definition(x, m0, shift):
    assert int(quant.multiply_by_quantized_multiplier(x, m0, shift)) == mbqm_def(x, m0, shift)


def test_vectorized_equals_scalar():
    rng = np.random.default_rng(7)
    x = rng.integers(quant.INT32_MIN, quant.INT32_MAX, 300, endpoint=True)
    m0 = rng.integers(quant.M0_MIN, quant.M0_LIMIT, 300)
    shift = rng.integers(-31, 32, 300)
    got = quant.multiply_by_quantized_multiplier(x, m0, shift)
    assert got.tolist() == [mbqm_def(int(a), int(b), int(c)) for a, b, c in zip(x, m0, shift)]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=2.0 ** -30, max_value=2.0 ** 30, allow_nan=False))
def test_quantize_multiplier_is_accurate_and_in_domain(real):
    m0, shift = quant.quantize_multiplier(real)
    quant.check_multiplier(m0, shift)
    assert quant.M0_MIN <= m0 < quant.M0_LIMIT
    represented = Fraction(m0) / Fraction(2) ** (31 + shift)
    assert abs(represented - Fraction(real)) <= Fraction(real) * Fraction(1, 1 << 30)


def test_quantize_multiplier_edges():
    assert quant.quantize_multiplier(0.0) == (0, 0)
    assert quant.quantize_multiplier(2.0 ** -80) == (0, 0)
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, -1)
    m0, shift = quant.quantize_multiplier(1 - 2.0 ** -40)  # rounds up to 2^31: renormalized
    assert (m0, shift) == (1 << 30, -1)
    for bad in (-1.0, float("nan"), float("inf"), 2.0 ** 40):
        with pytest.raises(QuantError):
            quant.quantize_multiplier(bad)


def test_quantized_multiplier_scales_like_the_real():
    m0, shift = quant.quantize_multiplier(0.0123)
    x = np.arange(-100_000, 100_000, 997)
    assert np.abs(quant.multiply_by_quantized_multiplier(x, m0, shift) - x * 0.0123).max() <= 0.5 + 1e-6


def test_requantize_saturates_and_fuses_relu():
    m0, shift = quant.quantize_multiplier(0.5)  # (2^30, 0): SRDHM = floor((x + 1) / 2), ties toward +inf
    acc = np.array([-1000, -3, -1, 0, 1, 3, 254, 255, 1000])
    assert quant.requantize(acc, m0, shift).tolist() == [-128, -1, 0, 0, 1, 2, 127, 127, 127]
    assert quant.requantize(acc, m0, shift, relu=True).tolist() == [0, 0, 0, 0, 1, 2, 127, 127, 127]
    assert quant.requantize(acc, m0, shift).dtype == np.int8


def test_check_multiplier_rejects_out_of_domain():
    for m0, shift in ((1, 0), (1 << 31, 0), (1 << 30, 32), (1 << 30, -32)):
        with pytest.raises(QuantError):
            quant.check_multiplier(m0, shift)
