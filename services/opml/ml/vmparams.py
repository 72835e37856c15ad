"""The attribute words each op's kernel reads after the tile header (the C struct in kernels/src/<kernel>.c).

`attribute_words(op, attrs, input_types, output_type)` is the one place that maps a node onto its kernel's
params; `opml.kernels.params.pack_params` adds the tile header.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from . import attrs as A
from .ops import OpType
from .tensor import DTYPES, TensorType

Words = list[int]


def _elem_size(t: TensorType) -> int:
    return DTYPES[t.dtype].itemsize


def _fully_connected(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    (n, k), (o, _) = ins[0].shape, ins[1].shape
    return [n, k, o]


def _conv2d(attrs: A.Conv2DAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    n, c, h, w = ins[0].shape
    o, _, kh, kw = ins[1].shape
    return [n, c, h, w, o, kh, kw, *attrs.strides, *attrs.pads, *attrs.dilations, attrs.groups]


def _elementwise(attrs: A.Attrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [out.size, _elem_size(out)]


def _pool(attrs: A.PoolAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    include_pad = int(getattr(attrs, "count_include_pad", False))
    return [*ins[0].shape, *attrs.kernel, *attrs.strides, *attrs.pads, include_pad]


def _global_avg_pool(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return list(ins[0].shape)


def _add(attrs: A.AddAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [out.size, attrs.left_shift, attrs.a_multiplier, attrs.a_shift, attrs.b_multiplier, attrs.b_shift,
            int(attrs.relu)]


def _requantize(attrs: A.RequantizeAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    channels = len(attrs.multipliers)
    inner = math.prod(out.shape[attrs.axis + 1:]) if channels > 1 else out.size
    return [out.size, channels, inner, int(attrs.relu), *attrs.multipliers, *attrs.shifts]


def _rows(t: TensorType) -> tuple[int, int]:
    return t.size // t.shape[-1], t.shape[-1]


def _softmax(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return list(_rows(ins[0]))


def _argmax(attrs: A.ArgMaxAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [*_rows(ins[0]), _elem_size(ins[0])]


def _gather(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    table, ids = ins
    return [ids.size, table.shape[0], table.shape[1], _elem_size(table)]


def _norm(attrs: A.NormAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    rows, d = _rows(ins[0])
    return [rows, d, attrs.epsilon & 0xFFFFFFFF, attrs.epsilon >> 32, attrs.multiplier, attrs.shift]


def _matmul(attrs: A.MatMulAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    batch, m, k = ins[0].shape
    return [batch, m, k, out.shape[2], int(attrs.transpose_b)]


def _attention(attrs: A.AttentionAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    batch, seq, heads, head_dim = ins[0].shape
    keys, kv_heads = ins[1].shape[1:3]
    return [batch, seq, heads, head_dim, keys, kv_heads, attrs.score_multiplier, attrs.score_shift,
            attrs.out_multiplier, attrs.out_shift, int(attrs.causal)]


def _rope(attrs: A.RoPEAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    batch, seq, heads, head_dim = ins[0].shape
    return [batch, seq, heads, head_dim, ins[2].shape[0], attrs.frac_bits, int(attrs.half_split)]


def _lut(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [out.size]


def _mul(attrs: A.MulAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [out.size, attrs.multiplier, attrs.shift]


def _cache_write(attrs: A.NoAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    cache, new = ins[0], ins[1]
    return [cache.shape[0], cache.shape[1], new.shape[1], cache.size // (cache.shape[0] * cache.shape[1]),
            _elem_size(cache)]


def _sample(attrs: A.SampleAttrs, ins: Sequence[TensorType], out: TensorType) -> Words:
    return [ins[0].shape[1], attrs.step_multiplier, attrs.step_shift]


_WORDS: dict[OpType, Callable[..., Words]] = {
    OpType.FULLY_CONNECTED: _fully_connected,
    OpType.CONV2D: _conv2d,
    OpType.RELU: _elementwise,
    OpType.MAX_POOL: _pool,
    OpType.AVG_POOL: _pool,
    OpType.GLOBAL_AVG_POOL: _global_avg_pool,
    OpType.ADD: _add,
    OpType.RESHAPE: _elementwise,
    OpType.REQUANTIZE: _requantize,
    OpType.SOFTMAX: _softmax,
    OpType.ARGMAX: _argmax,
    OpType.GATHER: _gather,
    OpType.RMS_NORM: _norm,
    OpType.LAYER_NORM: _norm,
    OpType.MATMUL: _matmul,
    OpType.ATTENTION: _attention,
    OpType.ROPE: _rope,
    OpType.LUT: _lut,
    OpType.MUL: _mul,
    OpType.CACHE_WRITE: _cache_write,
    OpType.SAMPLE: _sample,
}


def attribute_words(op: OpType, attrs: A.Attrs, inputs: Sequence[TensorType], output: TensorType) -> Words:
    """The words after the tile header in the params region of `op`'s kernel."""
    return _WORDS[op](attrs, inputs, output)
