"""Hand-checked small cases for every op's numpy reference, shape inference errors, and the exact fast matmul."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opml.ml import fastmm, ops
from opml.ml.errors import OpError
from opml.ml.ops import OpType
from opml.ml.reference import softmax_exp_table
from opml.ml.tensor import TensorType


def i8(x) -> np.ndarray:
    return np.array(x, dtype=np.int8)


def i32(x) -> np.ndarray:
    return np.array(x, dtype=np.int32)


def evaluate(op: OpType, inputs, **attrs) -> np.ndarray:
    return ops.evaluate(op, inputs, ops.parse_attrs(op, attrs))


def test_op_set_is_closed_and_complete():
    assert set(ops.OPS) == set(OpType)
    with pytest.raises(OpError, match="unknown op 'Gelu'"):
        ops.op_type("Gelu")


def test_fully_connected():
    x = i8([[1, 2, 3], [-1, 0, 127]])
    w = i8([[1, 0, -1], [2, 2, 2]])
    out = evaluate(OpType.FULLY_CONNECTED, [x, w, i32([10, -5])])
    assert out.dtype == np.int32
    assert out.tolist() == [[1 - 3 + 10, 12 - 5], [-1 - 127 + 10, 252 - 5]]


def test_fully_connected_wraps_int32():
    x, w = i8([[127]]), i8([[127]])
    out = evaluate(OpType.FULLY_CONNECTED, [x, w, i32([2**31 - 1])])
    assert out.tolist() == [[2**31 - 1 + 127 * 127 - 2**32]]


def test_conv2d_with_padding_and_stride():
    x = i8(np.arange(9).reshape(1, 1, 3, 3))  # 0..8
    w = i8(np.ones((1, 1, 2, 2)))
    out = evaluate(OpType.CONV2D, [x, w, i32([100])], strides=(2, 2), pads=(1, 1, 0, 0))
    # padded top-left window holds only x[0,0]; the next windows to the right/below add up visible elements
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0].tolist() == [[100 + 0, 100 + 1 + 2], [100 + 3 + 6, 100 + 4 + 5 + 7 + 8]]


def test_conv2d_groups_and_dilation():
    x = i8([[[[1, 2, 3]], [[10, 20, 30]]]])  # [1, 2, 1, 3]
    w = i8([[[[1, 1]]], [[[1, -1]]]])  # depthwise [2, 1, 1, 2]
    out = evaluate(OpType.CONV2D, [x, w, i32([0, 0])], groups=2, dilations=(1, 2))
    assert out.tolist() == [[[[1 + 3]], [[10 - 30]]]]


def test_relu_both_dtypes():
    assert evaluate(OpType.RELU, [i8([-128, -1, 0, 5])]).tolist() == [0, 0, 0, 5]
    out = evaluate(OpType.RELU, [i32([-(2**31), 7])])
    assert out.dtype == np.int32 and out.tolist() == [0, 7]


def test_max_pool_ignores_padding():
    x = i8([[[[-100, -50], [-20, -128]]]])
    out = evaluate(OpType.MAX_POOL, [x], kernel=(2, 2), strides=(1, 1), pads=(1, 1, 0, 0))
    assert out.tolist() == [[[[-100, -50], [-20, -20]]]]


def test_avg_pool_rounding_and_count_rule():
    x = i8([[[[1, 2], [2, 2]]]])
    assert evaluate(OpType.AVG_POOL, [x], kernel=(2, 2)).tolist() == [[[[2]]]]  # 7/4 = 1.75 -> 2
    x = i8([[[[1, 2], [-3, -4]]]])
    out = evaluate(OpType.AVG_POOL, [x], kernel=(1, 2), strides=(1, 2))
    assert out.tolist() == [[[[2], [-4]]]]  # 1.5 -> 2, -3.5 -> -4: ties away from zero
    x = i8([[[[3, 3], [3, 3]]]])
    excl = evaluate(OpType.AVG_POOL, [x], kernel=(2, 2), pads=(1, 1, 0, 0))
    incl = evaluate(OpType.AVG_POOL, [x], kernel=(2, 2), pads=(1, 1, 0, 0), count_include_pad=True)
    assert excl.tolist() == [[[[3, 3], [3, 3]]]]
    assert incl.tolist() == [[[[1, 2], [2, 3]]]]  # 3/4 -> 1, 6/4 -> 2 (1.5 -> 2), 6/4 -> 2, 12/4 -> 3


def test_global_avg_pool():
    x = i8(np.array([1, 2, 3, 4, -1, -2, -3, -5]).reshape(1, 2, 2, 2))
    out = evaluate(OpType.GLOBAL_AVG_POOL, [x])
    assert out.shape == (1, 2, 1, 1) and out.ravel().tolist() == [3, -3]  # 2.5 -> 3, -2.75 -> -3


def test_add_rescales_both_operands():
    half = (1 << 30, 0)  # 0.5
    one = (1 << 30, -1)  # 1.0
    out = evaluate(OpType.ADD, [i8([10, -10, 100, 3]), i8([4, 4, 100, -128])], left_shift=20,
                   a_multiplier=half[0], a_shift=half[1], b_multiplier=one[0], b_shift=one[1])
    assert out.tolist() == [9, -1, 127, -127]  # 5+4, -5+4, 150 saturates, 1.5-128 = -126.5 -> -127 (RDBPOT tie)


def test_add_relu():
    one = (1 << 30, -1)
    out = evaluate(OpType.ADD, [i8([-5, 5]), i8([1, 1])], a_multiplier=one[0], a_shift=one[1],
                   b_multiplier=one[0], b_shift=one[1], relu=True)
    assert out.tolist() == [0, 6]


def test_reshape_keeps_bytes():
    x = i8(np.arange(12).reshape(2, 3, 2))
    out = evaluate(OpType.RESHAPE, [x], shape=(4, 3))
    assert out.shape == (4, 3) and out.tobytes() == x.tobytes()


def test_requantize_per_channel():
    x = i32([[[100, 101]], [[100, -100]]])  # [2 channels on axis 0, 1, 2]
    out = evaluate(OpType.REQUANTIZE, [x], multipliers=(1 << 30, 1 << 30), shifts=(0, 1), axis=0)
    assert out.tolist() == [[[50, 51]], [[25, -25]]]  # x/2 (101/2 = 50.5 -> 51), x/4


def test_requantize_fused_relu_and_saturation():
    out = evaluate(OpType.REQUANTIZE, [i32([-1000, 1000, 3])], multipliers=(1 << 30,), shifts=(-1,), relu=True)
    assert out.tolist() == [0, 127, 3]


def test_softmax_by_hand():
    table = np.zeros(256, dtype=np.int32)
    table[0], table[1], table[2] = 4, 2, 1
    out = evaluate(OpType.SOFTMAX, [i8([[5, 4, 3, 0]]), table])
    # e = [4, 2, 1, 0], S = 7: (127*e + 3) // 7
    assert out.tolist() == [[(508 + 3) // 7, (254 + 3) // 7, (127 + 3) // 7, 0]]


def test_softmax_exp_table_is_probability_like():
    table = softmax_exp_table(0.05)
    assert table[0] == 65536 and np.all(np.diff(table) <= 0)
    logits = i8([[40, 0, -40, 10]])
    out = evaluate(OpType.SOFTMAX, [logits, table])
    real = np.exp(0.05 * logits[0].astype(float))
    assert np.abs(out[0] - 127 * real / real.sum()).max() <= 1


def test_softmax_rejects_bad_table():
    with pytest.raises(OpError, match="table"):
        evaluate(OpType.SOFTMAX, [i8([1, 2]), np.zeros(256, dtype=np.int32)])
    with pytest.raises(OpError, match="int32\\[256\\]"):
        evaluate(OpType.SOFTMAX, [i8([1, 2]), np.ones(255, dtype=np.int32)])


def test_argmax_ties_lowest_index():
    x = i8([[3, 7, 7, 1], [-1, -1, -1, -1]])
    assert evaluate(OpType.ARGMAX, [x]).tolist() == [1, 0]
    assert evaluate(OpType.ARGMAX, [x], keepdims=True).tolist() == [[1], [0]]


@pytest.mark.parametrize("op, types, attrs, message", [
    (OpType.FULLY_CONNECTED, [TensorType("int8", (2, 3)), TensorType("int8", (4, 5)), TensorType("int32", (4,))],
     {}, "disagree on K"),
    (OpType.FULLY_CONNECTED, [TensorType("int32", (2, 3)), TensorType("int8", (4, 3)), TensorType("int32", (4,))],
     {}, "must be int8"),
    (OpType.CONV2D, [TensorType("int8", (1, 3, 4, 4)), TensorType("int8", (2, 3, 5, 5)), TensorType("int32", (2,))],
     {}, "larger than padded input"),
    (OpType.CONV2D, [TensorType("int8", (1, 3, 4, 4)), TensorType("int8", (2, 3, 1, 1)), TensorType("int32", (2,))],
     {"groups": 2}, "multiples of groups"),
    (OpType.ADD, [TensorType("int8", (2,)), TensorType("int8", (3,))],
     {"a_multiplier": 0, "a_shift": 0, "b_multiplier": 0, "b_shift": 0}, "same shape"),
    (OpType.RESHAPE, [TensorType("int8", (2, 3))], {"shape": (5,)}, "elements"),
    (OpType.REQUANTIZE, [TensorType("int32", (2, 3))], {"multipliers": (0, 0), "shifts": (0, 0)}, "multipliers but"),
    (OpType.RELU, [TensorType("int8", (2,)), TensorType("int8", (2,))], {}, "takes 1 inputs"),
])
def test_shape_inference_rejects(op, types, attrs, message):
    with pytest.raises(OpError, match=message):
        ops.infer(op, types, ops.parse_attrs(op, attrs))


@pytest.mark.parametrize("op, attrs, message", [
    (OpType.MAX_POOL, {"kernel": (2, 2), "pads": (2, 0, 0, 0)}, "smaller than the kernel"),
    (OpType.CONV2D, {"strides": (0, 1)}, "greater than or equal to 1"),
    (OpType.CONV2D, {"groups": "2"}, "valid integer"),
    (OpType.REQUANTIZE, {"multipliers": (5,), "shifts": (0,)}, "neither 0 nor"),
    (OpType.REQUANTIZE, {"multipliers": (1 << 30,), "shifts": (32,)}, "less than or equal to 31"),
    (OpType.ARGMAX, {"keepdims": 1}, "valid boolean"),
    (OpType.RELU, {"alpha": 1}, "Extra inputs"),
])
def test_attributes_are_validated(op, attrs, message):
    with pytest.raises(OpError, match=message):
        ops.parse_attrs(op, attrs)


def test_another_ops_attributes_are_revalidated():
    avg = ops.parse_attrs(OpType.AVG_POOL, {"kernel": (2, 2), "count_include_pad": True})
    with pytest.raises(OpError, match="Extra inputs"):
        ops.parse_attrs(OpType.MAX_POOL, avg)
    assert ops.parse_attrs(OpType.AVG_POOL, avg) is avg


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 300), st.integers(1, 9), st.data())
def test_fast_matmul_equals_int64_matmul(m, k, n, data):
    a = data.draw(hnp.arrays(np.int8, (m, k)))
    b = data.draw(hnp.arrays(np.int8, (k, n)))
    fast = fastmm.matmul_i8(a, b)
    assert fast.dtype == np.int64
    assert np.array_equal(fast, fastmm.matmul_int64(a, b))


def test_fast_matmul_extreme_values_exact():
    a = np.full((3, 4096), -128, dtype=np.int8)
    b = np.full((4096, 2), -128, dtype=np.int8)
    assert fastmm.matmul_i8(a, b).tolist() == [[4096 * 16384] * 2] * 3


def test_fast_matmul_falls_back_beyond_the_float64_bound():
    assert fastmm.float64_is_exact(1 << 38)
    assert not fastmm.float64_is_exact(1 << 39)
    with pytest.raises(ValueError, match="incompatible"):
        fastmm.matmul_i8(np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int8))
