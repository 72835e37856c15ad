"""Shape and dtype inference, one function per op: (input types, attrs) -> output type, or OpError."""

from __future__ import annotations

from collections.abc import Sequence

from . import attrs as A
from .errors import OpError
from .tensor import TensorType

MAX_POOL_WINDOW = 1 << 16
MAX_GLOBAL_POOL_PLANE = 1 << 22
MAX_SOFTMAX_AXIS = 1 << 15
SOFTMAX_TABLE_SIZE = 256


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise OpError(message)


def _dtype(t: TensorType, allowed: tuple[str, ...], what: str) -> None:
    _expect(t.dtype in allowed, f"{what} must be {' or '.join(allowed)}, got {t}")


def _rank(t: TensorType, rank: int, what: str) -> None:
    _expect(len(t.shape) == rank, f"{what} must have rank {rank}, got {t}")


def _check(t: TensorType, allowed: tuple[str, ...], rank: int, what: str) -> None:
    _dtype(t, allowed, what)
    _rank(t, rank, what)


def _out_dim(size: int, kernel: int, stride: int, pad_sum: int, dilation: int, what: str) -> int:
    span = dilation * (kernel - 1) + 1
    _expect(size + pad_sum >= span, f"{what}: window {span} larger than padded input {size + pad_sum}")
    return (size + pad_sum - span) // stride + 1


def window_out_hw(hw: tuple[int, int], kernel, strides, pads, dilations=(1, 1), what: str = "window") -> tuple[int, int]:
    """Output (height, width) of a strided, padded, dilated window sliding over an input of size hw."""
    top, left, bottom, right = pads
    return (_out_dim(hw[0], kernel[0], strides[0], top + bottom, dilations[0], f"{what} height"),
            _out_dim(hw[1], kernel[1], strides[1], left + right, dilations[1], f"{what} width"))


def fully_connected(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    x, w, b = ins
    _check(x, ("int8",), 2, "FullyConnected input")
    _check(w, ("int8",), 2, "FullyConnected weights")
    _check(b, ("int32",), 1, "FullyConnected bias")
    _expect(x.shape[1] == w.shape[1], f"FullyConnected: input {x} and weights {w} disagree on K")
    _expect(b.shape[0] == w.shape[0], f"FullyConnected: bias {b} does not match weights {w}")
    return TensorType("int32", (x.shape[0], w.shape[0]))


def conv2d(ins: Sequence[TensorType], attrs: A.Conv2DAttrs) -> TensorType:
    x, w, b = ins
    _check(x, ("int8",), 4, "Conv2D input (NCHW)")
    _check(w, ("int8",), 4, "Conv2D weights (O, C/groups, kh, kw)")
    _check(b, ("int32",), 1, "Conv2D bias")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g = attrs.groups
    _expect(c % g == 0 and o % g == 0, f"Conv2D: channels {c} and filters {o} must be multiples of groups {g}")
    _expect(cg == c // g, f"Conv2D: weights {w} need C/groups = {c // g} input channels")
    _expect(b.shape[0] == o, f"Conv2D: bias {b} does not match {o} filters")
    oh, ow = window_out_hw((h, wd), (kh, kw), attrs.strides, attrs.pads, attrs.dilations, "Conv2D")
    return TensorType("int32", (n, o, oh, ow))


def relu(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    (x,) = ins
    _dtype(x, ("int8", "int32"), "ReLU input")
    return x


def pool(ins: Sequence[TensorType], attrs: A.PoolAttrs) -> TensorType:
    (x,) = ins
    _check(x, ("int8",), 4, "pool input (NCHW)")
    kh, kw = attrs.kernel
    _expect(kh * kw <= MAX_POOL_WINDOW, f"pool window {kh}x{kw} exceeds {MAX_POOL_WINDOW} elements")
    n, c, h, w = x.shape
    oh, ow = window_out_hw((h, w), attrs.kernel, attrs.strides, attrs.pads, what="pool")
    return TensorType("int8", (n, c, oh, ow))


def global_avg_pool(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    (x,) = ins
    _check(x, ("int8",), 4, "GlobalAvgPool input (NCHW)")
    n, c, h, w = x.shape
    _expect(h * w <= MAX_GLOBAL_POOL_PLANE, f"GlobalAvgPool plane {h}x{w} exceeds {MAX_GLOBAL_POOL_PLANE}")
    return TensorType("int8", (n, c, 1, 1))


def add(ins: Sequence[TensorType], attrs: A.AddAttrs) -> TensorType:
    a, b = ins
    _dtype(a, ("int8",), "Add input a")
    _dtype(b, ("int8",), "Add input b")
    _expect(a.shape == b.shape, f"Add: inputs {a} and {b} must have the same shape")
    return a


def reshape(ins: Sequence[TensorType], attrs: A.ReshapeAttrs) -> TensorType:
    (x,) = ins
    out = TensorType(x.dtype, tuple(attrs.shape))
    _expect(out.size == x.size, f"Reshape: {x} has {x.size} elements, target {list(attrs.shape)} has {out.size}")
    return out


def requantize(ins: Sequence[TensorType], attrs: A.RequantizeAttrs) -> TensorType:
    (x,) = ins
    _dtype(x, ("int32",), "Requantize input")
    channels = len(attrs.multipliers)
    if channels > 1:
        _expect(attrs.axis < len(x.shape), f"Requantize: axis {attrs.axis} out of range for {x}")
        _expect(x.shape[attrs.axis] == channels,
                f"Requantize: {channels} multipliers but {x} has {x.shape[attrs.axis]} on axis {attrs.axis}")
    return TensorType("int8", x.shape)


def softmax(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    x, table = ins
    _dtype(x, ("int8",), "Softmax input")
    _expect(len(x.shape) >= 1, f"Softmax input must have rank >= 1, got {x}")
    _expect(x.shape[-1] <= MAX_SOFTMAX_AXIS, f"Softmax axis length {x.shape[-1]} exceeds {MAX_SOFTMAX_AXIS}")
    _expect(table == TensorType("int32", (SOFTMAX_TABLE_SIZE,)),
            f"Softmax table must be int32[{SOFTMAX_TABLE_SIZE}], got {table}")
    return TensorType("int8", x.shape)


def argmax(ins: Sequence[TensorType], attrs: A.ArgMaxAttrs) -> TensorType:
    (x,) = ins
    _dtype(x, ("int8", "int32"), "ArgMax input")
    _expect(len(x.shape) >= 1, f"ArgMax input must have rank >= 1, got {x}")
    return TensorType("int32", x.shape[:-1] + ((1,) if attrs.keepdims else ()))
