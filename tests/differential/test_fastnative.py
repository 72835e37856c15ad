"""The fast native executor (numba kernels) against the numpy references, bit for bit.

Random inputs cover the whole int8/int32 domains, every stride/pad/dilation/group combination the kernels
branch on, per-tensor and per-channel multipliers with right and left shifts, and the wrap-around of int32
accumulators; the committed MNIST models are compared node by node on real digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from opml.ml import attrs as A
from opml.ml import executor, fastnative
from opml.ml.accuracy import as_float_input
from opml.ml.errors import InputError
from opml.ml.model import Model, Node, TensorSpec
from opml.ml.ops import OpType, infer
from opml.ml.scales import QuantizedModel
from opml.ml.tensor import type_of
from opml.paths import REPO_ROOT

RNG = np.random.default_rng(20261122)


def _i8(*shape):
    return RNG.integers(-128, 128, shape).astype(np.int8)


def _i32(*shape, bound=1 << 31):
    return RNG.integers(-bound, bound, shape).astype(np.int64).astype(np.int32)


def _single_node_model(op, inputs, attrs, constant_from=1) -> Model:
    """A model computing one node: inputs[0:constant_from] are model inputs, the rest constants."""
    types = [type_of(x) for x in inputs]
    tensors = [TensorSpec(f"t{i}", t.dtype, t.shape, i >= constant_from) for i, t in enumerate(types)]
    out_type = infer(op, types, attrs)
    tensors.append(TensorSpec("out", out_type.dtype, out_type.shape))
    node = Node(op, tuple(range(len(inputs))), len(inputs), attrs)
    constants = {i: x for i, x in enumerate(inputs) if i >= constant_from}
    return Model("single", tensors, list(range(constant_from)), [len(inputs)], [node], constants).validate()


def _assert_same(op, inputs, attrs, constant_from=1, fast=True):
    model = _single_node_model(op, inputs, attrs, constant_from)
    want = executor.run(model, inputs[:constant_from]).result[0]
    plan = fastnative.NativePlan(model)
    assert plan.fast == [fast]
    got = plan.run(inputs[:constant_from]).result[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
    assert bad.size == 0, f"{op.value} {attrs}: differs at {bad[:8].tolist()}"


CONV_CASES = [
    # (N, C, H, W, O, kh, kw, strides, pads, dilations, groups)
    (1, 1, 28, 28, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (1, 8, 14, 14, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 3, 9, 7, 5, 3, 2, (1, 1), (0, 1, 2, 0), (2, 1), 1),
    (1, 4, 11, 10, 6, 3, 3, (2, 1), (1, 0, 1, 2), (1, 1), 2),
    (1, 6, 8, 8, 6, 3, 3, (2, 2), (1, 1, 1, 1), (1, 2), 3),
    (1, 2, 5, 5, 7, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 4, 9, 9, 6, 2, 3, (1, 1), (1, 2, 0, 1), (2, 2), 2),
    (2, 3, 7, 6, 9, 3, 3, (1, 1), (2, 0, 0, 2), (1, 1), 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(case):
    n, c, h, w, o, kh, kw, strides, pads, dilations, groups = case
    attrs = A.Conv2DAttrs(strides=strides, pads=pads, dilations=dilations, groups=groups)
    _assert_same(OpType.CONV2D, [_i8(n, c, h, w), _i8(o, c // groups, kh, kw), _i32(o)], attrs)


def test_conv2d_with_extreme_values_wraps_like_the_reference():
    x = np.full((1, 8, 6, 6), -128, dtype=np.int8)
    w = np.full((4, 8, 3, 3), -128, dtype=np.int8)
    b = np.array([2**31 - 1, -(2**31), 0, 12345], dtype=np.int32)
    _assert_same(OpType.CONV2D, [x, w, b], A.Conv2DAttrs(pads=(1, 1, 1, 1)))


@pytest.mark.parametrize("shape", [(1, 784, 128), (3, 17, 5), (1, 1000, 3)])
def test_fully_connected(shape):
    m, k, n = shape
    _assert_same(OpType.FULLY_CONNECTED, [_i8(m, k), _i8(n, k), _i32(n)], A.NoAttrs())


def test_large_k_falls_back_to_the_reference_and_still_matches():
    _assert_same(OpType.FULLY_CONNECTED, [_i8(1, 2048), _i8(4, 2048), _i32(4)], A.NoAttrs(), fast=False)
    _assert_same(OpType.CONV2D, [_i8(1, 128, 4, 4), _i8(2, 128, 3, 3), _i32(2)], A.Conv2DAttrs(), fast=False)


def _multipliers(count):
    m0 = RNG.integers(1 << 30, 1 << 31, count).tolist()
    m0[0] = (1 << 31) - 1
    if count > 2:
        m0[1] = 0
    return tuple(int(v) for v in m0)


@pytest.mark.parametrize("shifts", [(0,), (31,), (-5,), (-31,), tuple(range(-8, 24, 2))])
@pytest.mark.parametrize("relu", [False, True])
def test_requantize(shifts, relu):
    channels = len(shifts)
    x = _i32(2, channels, 5, 7)
    x.reshape(-1)[:6] = [2**31 - 1, -(2**31), 0, -1, 1, -(2**30)]
    attrs = A.RequantizeAttrs(multipliers=_multipliers(channels), shifts=shifts, axis=1, relu=relu)
    _assert_same(OpType.REQUANTIZE, [x], attrs)


def test_requantize_small_accumulators_hit_the_rounding_ties():
    x = np.arange(-4096, 4096, dtype=np.int32).reshape(1, 2, 4096)
    attrs = A.RequantizeAttrs(multipliers=(1 << 30, 1 << 30), shifts=(3, 11), axis=1)
    _assert_same(OpType.REQUANTIZE, [x], attrs)


@pytest.mark.parametrize("kernel,strides,pads", [
    ((2, 2), (2, 2), (0, 0, 0, 0)), ((2, 2), (2, 2), (0, 0, 1, 1)), ((3, 3), (2, 2), (1, 1, 1, 1)),
    ((3, 2), (1, 2), (2, 0, 1, 1)),
    ((1, 1), (1, 1), (0, 0, 0, 0)),
])
def test_max_pool(kernel, strides, pads):
    x = _i8(2, 3, 9, 11)  # odd sizes: floor division drops the last row and column where windows do not fit
    x[0, 0] = -128
    _assert_same(OpType.MAX_POOL, [x], A.PoolAttrs(kernel=kernel, strides=strides, pads=pads))


def test_inputs_are_validated_like_the_reference_executor():
    model = _single_node_model(OpType.MAX_POOL, [_i8(1, 1, 4, 4)], A.PoolAttrs(kernel=(2, 2)))
    with pytest.raises(InputError):
        fastnative.run(model, np.zeros((1, 1, 4, 5), dtype=np.int8))


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn"])
def test_mnist_models_trace_equal_on_real_digits(name):
    quantized = QuantizedModel.load(REPO_ROOT / "models" / f"{name}.opml")
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digits = data["test_x"][::50]
    for image in digits:
        x = quantized.quantize_input(as_float_input(image))
        want, got = executor.run(quantized.model, x), fastnative.run(quantized.model, x)
        assert set(got.outputs) == set(want.outputs)
        for slot, value in want.outputs.items():
            assert got.outputs[slot].dtype == value.dtype and np.array_equal(got.outputs[slot], value), slot
