"""The Sample op's numpy semantics (docs/ops.md "Sample"): ArgMax at temperature 0, draws that follow the
tempered softmax of the real logits, a draw that is a pure function of (seed, position), and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from opml.llm.generation import sampling_words
from opml.ml import ops
from opml.ml import transformer_consts as tc
from opml.ml.errors import OpError
from opml.ml.ops import OpType
from opml.ml.reference import splitmix_draw
from opml.ml.tensor import TensorType

SCALE = 0.05  # real logit = SCALE · int logit


def sample(logits, temperature_q16: int, seed: int = 7, position: int = 0, scale: float = SCALE,
           spare: int = 0) -> int:
    words = sampling_words(seed, temperature_q16)
    words[3] = spare
    inputs = [np.asarray([logits], np.int32), words, np.array([[position]], np.int32), tc.exp2_table()]
    out = ops.evaluate(OpType.SAMPLE, inputs, ops.parse_attrs(OpType.SAMPLE, tc.sample_attrs(scale)))
    assert out.dtype == np.int32 and out.shape == (1,)
    return int(out[0])


def q16(t: float) -> int:
    return round(t * 65536)


def test_temperature_zero_is_the_argmax_with_the_lowest_id_on_ties():
    assert sample([3, 9, -4, 9, 9], 0) == 1
    assert sample([-(2**31), 2**31 - 1], 0) == 1
    assert sample([5], 0) == 0
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.integers(-3, 3, 40)
        assert sample(x, 0, seed=int(rng.integers(2**63))) == int(np.argmax(x))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_follow_the_tempered_softmax(temperature):
    logits = [0, 20, 40, 10, 35]  # real gaps up to 2 nats
    draws = [sample(logits, q16(temperature), seed=11, position=p) for p in range(6000)]
    counts = np.bincount(draws, minlength=len(logits))
    p = np.exp(np.array(logits) * SCALE / temperature)
    p /= p.sum()
    expected = p * len(draws)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.0, (counts, expected)  # 4 degrees of freedom: p ≈ 5e-4


def test_the_draw_is_a_pure_function_of_seed_and_position():
    logits = list(range(0, 200, 2))
    a = [sample(logits, q16(1.5), seed=99, position=p) for p in range(40)]
    assert a == [sample(logits, q16(1.5), seed=99, position=p, spare=-5) for p in range(40)]
    assert len(set(a)) > 10  # positions give independent draws
    assert a != [sample(logits, q16(1.5), seed=100, position=p) for p in range(40)]


def test_the_draw_is_the_splitmix64_stream():
    state, seed = 12345, 12345
    for position in range(5):  # the stateful generator's output n + 1 is the draw at position n
        state = (state + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        assert splitmix_draw(seed, position) == z ^ (z >> 31)


def test_extreme_temperatures():
    logits = [0, 1, 2, 400, 3]  # a gap of 20 nats
    assert {sample(logits, 1, position=p) for p in range(50)} == {3}  # the smallest temperature, 2^-16
    flat = [sample(logits, 2**32 - 1, position=p) for p in range(400)]  # 65536: every weight is exp2[0]
    assert set(flat) == {0, 1, 2, 3, 4}
    big = [2**31 - 1, -(2**31)]  # the largest distance: weight 0, whatever the temperature
    assert {sample(big, q16(1), position=p) for p in range(20)} == {0}


def test_sample_attrs_encode_the_steps_per_logit_unit():
    for scale in (1e-6, 3e-4, 0.01, 0.4, 7.0, 150.0):
        attrs = tc.sample_attrs(scale)
        steps = attrs["step_multiplier"] / 2.0 ** attrs["step_shift"]
        assert attrs["step_multiplier"] < 1 << 16 and 0 <= attrs["step_shift"] <= 31
        assert math.isclose(steps, 256 * scale / math.log(2), rel_tol=2.0 ** -14)
    for scale in (1e-12, 200.0):
        with pytest.raises(ValueError, match="Sample"):
            tc.sample_attrs(scale)


ATTRS = {"step_multiplier": 1000, "step_shift": 10}


def _types(logits=("int32", (1, 5)), sampling=(4,), position=(1, 1), table=(256,)) -> list[TensorType]:
    return [TensorType(*logits), TensorType("int32", sampling), TensorType("int32", position),
            TensorType("int32", table)]


@pytest.mark.parametrize("types, message", [
    (_types(logits=("int32", (2, 5))), "int32\\[1, vocab"),
    (_types(logits=("int32", (1, 65536))), "vocab ≤ 65535"),
    (_types(logits=("int8", (1, 5))), "logits"),
    (_types(sampling=(3,)), "sampling words"),
    (_types(position=(1, 2)), "positions"),
    (_types(table=(128,)), "exp2 table"),
])
def test_bad_shapes_are_one_clear_op_error(types, message):
    with pytest.raises(OpError, match=message):
        ops.infer(OpType.SAMPLE, types, ops.parse_attrs(OpType.SAMPLE, ATTRS))


@pytest.mark.parametrize("attrs", [{"step_multiplier": 0, "step_shift": 0}, {"step_multiplier": 1 << 16,
                                   "step_shift": 0}, {"step_multiplier": 1, "step_shift": 32}, {"step_shift": 3}])
def test_bad_attributes_are_rejected(attrs):
    with pytest.raises(OpError, match="invalid attributes"):
        ops.parse_attrs(OpType.SAMPLE, attrs)


def test_a_bad_table_is_an_op_error_even_when_greedy():
    inputs = [np.zeros((1, 3), np.int32), np.zeros(4, np.int32), np.zeros((1, 1), np.int32), np.zeros(256, np.int32)]
    with pytest.raises(OpError, match="Sample exp2 table"):
        ops.evaluate(OpType.SAMPLE, inputs, ops.parse_attrs(OpType.SAMPLE, ATTRS))
