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
LUT_SIZE = 256
MAX_NORM_AXIS = 1 << 15
MAX_MATMUL_DIM = 1 << 16
MAX_HEAD_DIM = 1 << 10
MAX_KEYS = 1 << 15
EXP2_TABLE_SIZE = 256
MAX_SAMPLE_VOCAB = (1 << 16) - 1  # the weights' sum (each ≤ 2^16) stays below 2^32
SAMPLING_WORDS = 4


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise OpError(message)


def _dtype(t: TensorType, allowed: tuple[str, ...], what: str) -> None:
    _expect(t.dtype in allowed, f"{what} must be {' or '.join(allowed)}, got {t}")


def _same_shape_int8_pair(ins: Sequence[TensorType], op: str) -> TensorType:
    """The output type of an elementwise int8 op on two inputs of one shape (Add, Mul)."""
    a, b = ins
    _dtype(a, ("int8",), f"{op} input a")
    _dtype(b, ("int8",), f"{op} input b")
    _expect(a.shape == b.shape, f"{op}: inputs {a} and {b} must have the same shape")
    return a


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
    return _same_shape_int8_pair(ins, "Add")


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


def gather(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    table, ids = ins
    _check(table, ("int8", "int32"), 2, "Gather table [V, D]")
    _dtype(ids, ("int32",), "Gather ids")
    _expect(1 <= len(ids.shape) <= 7, f"Gather ids must have rank 1..7, got {ids}")
    return TensorType(table.dtype, ids.shape + (table.shape[1],))


def _norm_rows(x: TensorType, what: str) -> int:
    _dtype(x, ("int8",), f"{what} input")
    _expect(len(x.shape) >= 1, f"{what} input must have rank >= 1, got {x}")
    _expect(x.shape[-1] <= MAX_NORM_AXIS, f"{what} axis length {x.shape[-1]} exceeds {MAX_NORM_AXIS}")
    return x.shape[-1]


def rms_norm(ins: Sequence[TensorType], attrs: A.NormAttrs) -> TensorType:
    x, gain = ins
    d = _norm_rows(x, "RMSNorm")
    _expect(gain == TensorType("int32", (d,)), f"RMSNorm gain must be int32[{d}], got {gain}")
    return x


def layer_norm(ins: Sequence[TensorType], attrs: A.NormAttrs) -> TensorType:
    x, gain, bias = ins
    d = _norm_rows(x, "LayerNorm")
    _expect(gain == TensorType("int32", (d,)), f"LayerNorm gain must be int32[{d}], got {gain}")
    _expect(bias == TensorType("int32", (d,)), f"LayerNorm bias must be int32[{d}], got {bias}")
    return x


def matmul(ins: Sequence[TensorType], attrs: A.MatMulAttrs) -> TensorType:
    a, b = ins
    _check(a, ("int8",), 3, "MatMul a [B, M, K]")
    _check(b, ("int8",), 3, "MatMul b [B, N, K]" if attrs.transpose_b else "MatMul b [B, K, N]")
    batch, m, k = a.shape
    n, kb = (b.shape[1], b.shape[2]) if attrs.transpose_b else (b.shape[2], b.shape[1])
    _expect(b.shape[0] == batch and kb == k, f"MatMul: a {a} and b {b} disagree on batch or K")
    _expect(max(batch, m, k, n) <= MAX_MATMUL_DIM, f"MatMul dimensions of {a}, {b} exceed {MAX_MATMUL_DIM}")
    return TensorType("int32", (batch, m, n))


def _positions(positions: TensorType, batch: int, seq: int, what: str) -> None:
    _expect(positions == TensorType("int32", (batch, seq)), f"{what} positions must be int32[{batch}, {seq}], "
                                                            f"got {positions}")


def attention(ins: Sequence[TensorType], attrs: A.AttentionAttrs) -> TensorType:
    q, k, v, positions, key_mask, table = ins
    _check(q, ("int8",), 4, "Attention q [B, S, H, head_dim]")
    _check(k, ("int8",), 4, "Attention k [B, T, H_kv, head_dim]")
    _expect(v == k, f"Attention: v {v} must have k's type {k}")
    batch, seq, heads, head_dim = q.shape
    _, keys, kv_heads, kdim = k.shape
    _expect(k.shape[0] == batch and kdim == head_dim, f"Attention: q {q} and k {k} disagree on batch or head_dim")
    _expect(heads % kv_heads == 0, f"Attention: {heads} query heads are not a multiple of {kv_heads} kv heads")
    _expect(head_dim <= MAX_HEAD_DIM, f"Attention head_dim {head_dim} exceeds {MAX_HEAD_DIM}")
    _expect(keys <= MAX_KEYS, f"Attention: {keys} keys exceed {MAX_KEYS}")
    _positions(positions, batch, seq, "Attention")
    _expect(key_mask == TensorType("int32", (batch, keys)),
            f"Attention key_mask must be int32[{batch}, {keys}], got {key_mask}")
    _expect(table == TensorType("int32", (EXP2_TABLE_SIZE,)),
            f"Attention exp2 table must be int32[{EXP2_TABLE_SIZE}], got {table}")
    return q


def rope(ins: Sequence[TensorType], attrs: A.RoPEAttrs) -> TensorType:
    x, positions, table = ins
    _check(x, ("int8",), 4, "RoPE input [B, S, H, head_dim]")
    batch, seq, _, head_dim = x.shape
    _expect(head_dim % 2 == 0, f"RoPE head_dim must be even, got {x}")
    _positions(positions, batch, seq, "RoPE")
    _check(table, ("int32",), 2, "RoPE cos/sin table [max_pos, head_dim]")
    _expect(table.shape[1] == head_dim, f"RoPE table {table} must have {head_dim} columns")
    return x


def lut(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    x, table = ins
    _dtype(x, ("int8",), "Lut input")
    _expect(table == TensorType("int8", (LUT_SIZE,)), f"Lut table must be int8[{LUT_SIZE}], got {table}")
    return x


def mul(ins: Sequence[TensorType], attrs: A.MulAttrs) -> TensorType:
    return _same_shape_int8_pair(ins, "Mul")


def cache_write(ins: Sequence[TensorType], attrs: A.NoAttrs) -> TensorType:
    cache, new, positions = ins
    _dtype(cache, ("int8", "int32"), "CacheWrite cache")
    _expect(len(cache.shape) >= 2, f"CacheWrite cache must be [B, T, ...], got {cache}")
    _expect(new.dtype == cache.dtype and len(new.shape) == len(cache.shape) and new.shape[0] == cache.shape[0]
            and new.shape[2:] == cache.shape[2:], f"CacheWrite: new rows {new} do not fit cache {cache}")
    _positions(positions, new.shape[0], new.shape[1], "CacheWrite")
    return cache


def sample(ins: Sequence[TensorType], attrs: A.SampleAttrs) -> TensorType:
    logits, sampling, position, table = ins
    _check(logits, ("int32",), 2, "Sample logits [1, vocab]")
    _expect(logits.shape[0] == 1 and logits.shape[1] <= MAX_SAMPLE_VOCAB,
            f"Sample logits must be int32[1, vocab ≤ {MAX_SAMPLE_VOCAB}], got {logits}")
    _expect(sampling == TensorType("int32", (SAMPLING_WORDS,)),
            f"Sample sampling words must be int32[{SAMPLING_WORDS}], got {sampling}")
    _positions(position, 1, 1, "Sample")
    _expect(table == TensorType("int32", (EXP2_TABLE_SIZE,)),
            f"Sample exp2 table must be int32[{EXP2_TABLE_SIZE}], got {table}")
    return TensorType("int32", (1,))
