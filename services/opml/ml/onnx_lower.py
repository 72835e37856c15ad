"""Lowering, one function per ONNX op: each reads its node and appends integer nodes to the graph's builder.

A matmul-like op (Gemm, MatMul[+Add], Conv) becomes FullyConnected / Conv2D (int32 accumulators) and a
Requantize that fuses a following Relu (an inference BatchNormalization in between is folded into the weights);
MaxPool, Relu, Reshape/Flatten and the average pools keep their input's scale; Add rescales both operands to its
output scale; Softmax outputs probabilities at scale 1/127.

Encoders (docs/encoders.md): the integer token inputs become one int32 input split by Gather; embedding Gathers
quantize their table per tensor; LayerNormalization becomes LayerNorm; the nodes onnx_patterns.py writes become
Attention (opml.Attention, and opml.MaskedMean as an attention with zero scores) and Lut
(opml.ElementwiseFunction); a MatMul on [1, S, K] is a FullyConnected between two Reshapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx

from . import attrs as A
from .errors import QuantError
from .model import Model
from . import transformer_consts as T
from .onnx_graph import (
    Graph,
    OnnxImportError,
    UnsupportedOpError,
    attr,
    collect_constants,
    graph_input,
    node_label,
    token_inputs,
)
from .onnx_patterns import DOMAIN
from .ops import OpType
from .ptq import INT8_MAX, activation_scale, quantize_bias, quantize_weights, requantize_attrs
from .quant import quantize_multiplier
from .reference import ATTENTION_PROB_BITS, softmax_exp_table
from .scales import QuantizedModel
from .tensor import TensorType

SOFTMAX_OUTPUT_SCALE = 1.0 / 127


def _fuse_relu(g: Graph, output: str) -> tuple[str, bool]:
    """(final ONNX tensor name, relu) after absorbing a Relu that is the sole consumer of `output`."""
    relu = g.sole_consumer(output, ("Relu",))
    if relu is None:
        return output, False
    g.fused.add(relu)
    return g.nodes[relu].output[0], True


def _fold_batch_norm(g: Graph, output: str, w: np.ndarray, bias: np.ndarray | None):
    """Fold an inference BatchNormalization that is the sole consumer of `output` into the weights and bias:
    y = f·(W·x + b − mean) + beta with f = gamma / sqrt(var + epsilon), per output channel.

    Returns (the ONNX tensor the folded op now produces, W', b')."""
    index = g.sole_consumer(output, ("BatchNormalization",))
    if index is None:
        return output, w, bias
    node = g.nodes[index]
    label = node_label(node, index)
    if attr(node, "training_mode", 0) or any(node.output[1:]):
        raise UnsupportedOpError(f"{label}: training-mode BatchNormalization is not supported")
    gamma, beta, mean, var = (g.const(name, label).astype(np.float64).reshape(-1) for name in node.input[1:5])
    factor = gamma / np.sqrt(var + attr(node, "epsilon", 1e-5))
    g.fused.add(index)
    base = np.zeros(w.shape[0]) if bias is None else bias
    return node.output[0], w * factor.reshape(-1, *([1] * (w.ndim - 1))), (base - mean) * factor + beta


def _batch_norm(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """Reached only when the BatchNormalization could not be folded into a preceding Conv/Gemm/MatMul."""
    raise UnsupportedOpError(f"{where}: BatchNormalization is supported only right after a Conv, Gemm or MatMul "
                             "whose output it alone reads (it is folded into the weights)")


def _emit_matmul_like(g: Graph, op: OpType, x_name: str, w: np.ndarray, b: np.ndarray | None,
                      attrs: A.Attrs, output: str, where: str) -> None:
    """op(x, W_q, b_q) → int32, then Requantize (with a fused Relu) → int8 at the output's calibrated scale."""
    x = g.slot(x_name, where)
    s_in = g.build.scales[x]
    rows = g.build.shape(x)[:-1]
    if op is OpType.FULLY_CONNECTED and len(rows) > 1:  # [..., K] → [N, K]; the result goes back to [..., O]
        x = _reshaped(g, x, (math.prod(rows), g.build.shape(x)[-1]), f"{x_name}.rows")
    output, w, b = _fold_batch_norm(g, output, w, b)
    w_q, s_w = quantize_weights(w)
    bias = np.zeros(w.shape[0]) if b is None else b
    try:
        b_q = quantize_bias(bias, s_in * s_w)
    except QuantError as exc:
        raise OnnxImportError(f"{where}: {exc}") from None
    final, relu = _fuse_relu(g, output)
    s_out = g.scale_of(final)
    w_slot = g.build.constant(f"{output}.weight", w_q)
    b_slot = g.build.constant(f"{output}.bias", b_q)
    acc = g.build.node(op, [x, w_slot, b_slot], attrs, f"{output}.acc", None)
    flat = op is OpType.FULLY_CONNECTED and len(rows) > 1
    g.build.value[final] = g.build.node(
        OpType.REQUANTIZE, [acc], requantize_attrs(s_in * s_w / s_out, relu), f"{final}.rows" if flat else final,
        s_out
    )
    if flat:
        shape = A.ReshapeAttrs(shape=(*rows, w.shape[0]))
        g.build.value[final] = g.build.node(OpType.RESHAPE, [g.build.value[final]], shape, final, s_out)


def _gemm(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    if attr(node, "transA", 0):
        raise UnsupportedOpError(f"{where}: transA=1 is not supported")
    w = g.const(node.input[1], where).astype(np.float64) * attr(node, "alpha", 1.0)
    if not attr(node, "transB", 0):
        w = w.T
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = _bias_vector(g.const(node.input[2], where) * attr(node, "beta", 1.0), w.shape[0], where)
    _check_fc_input(g, node.input[0], w, where)
    _emit_matmul_like(g, OpType.FULLY_CONNECTED, node.input[0], w, bias, A.NoAttrs(), node.output[0], where)


def _matmul(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    w = g.const(node.input[1], where).astype(np.float64)
    if w.ndim != 2:
        raise UnsupportedOpError(f"{where}: only a 2-D constant right operand is supported, got {w.shape}")
    w = w.T
    _check_fc_input(g, node.input[0], w, where)
    output, bias = node.output[0], None
    add = g.sole_consumer(output, ("Add",))
    if add is not None:
        other = [n for n in g.nodes[add].input if n != output]
        if len(other) == 1 and other[0] in g.consts:
            bias = _bias_vector(g.consts[other[0]], w.shape[0], where)
            g.fused.add(add)
            output = g.nodes[add].output[0]
    _emit_matmul_like(g, OpType.FULLY_CONNECTED, node.input[0], w, bias, A.NoAttrs(), output, where)


def _bias_vector(c: np.ndarray, n: int, where: str) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
        raise UnsupportedOpError(f"{where}: bias of shape {c.shape} does not broadcast to one value per output {n}")
    return np.broadcast_to(c.reshape(-1), (n,)).copy()


def _check_fc_input(g: Graph, name: str, w: np.ndarray, where: str) -> None:
    shape = g.build.shape(g.slot(name, where))
    if len(shape) < 2 or shape[-1] != w.shape[1]:
        raise OnnxImportError(f"{where}: input {name!r} of shape {list(shape)} does not match weights K={w.shape[1]}")


def _spatial(node: onnx.NodeProto, where: str, kernel: tuple[int, int]) -> tuple[tuple, tuple, tuple]:
    """(strides, pads as (top, left, bottom, right), dilations) of a 2-D Conv/Pool node."""
    auto_pad = attr(node, "auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedOpError(f"{where}: auto_pad={auto_pad} is not supported (export with explicit pads)")
    strides = tuple(attr(node, "strides", [1, 1]))
    pads = tuple(attr(node, "pads", [0, 0, 0, 0])) if auto_pad == "NOTSET" else (0, 0, 0, 0)
    dilations = tuple(attr(node, "dilations", [1, 1]))
    if len(kernel) != 2 or len(strides) != 2 or len(pads) != 4 or len(dilations) != 2:
        raise UnsupportedOpError(f"{where}: only 2-D spatial ops are supported")
    return strides, (pads[0], pads[1], pads[2], pads[3]), dilations


def _conv(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    w = g.const(node.input[1], where).astype(np.float64)
    if w.ndim != 4:
        raise UnsupportedOpError(f"{where}: only 2-D convolutions (4-D weights) are supported, got {w.shape}")
    strides, pads, dilations = _spatial(node, where, tuple(w.shape[2:]))
    bias = g.const(node.input[2], where).astype(np.float64) if len(node.input) > 2 and node.input[2] else None
    attrs = A.Conv2DAttrs(strides=strides, pads=pads, dilations=dilations, groups=int(attr(node, "group", 1)))
    _emit_matmul_like(g, OpType.CONV2D, node.input[0], w, bias, attrs, node.output[0], where)


def _same_scale(g: Graph, op: OpType, node: onnx.NodeProto, attrs: A.Attrs, where: str) -> None:
    """An op whose output has its input's scale (pools, ReLU, reshapes)."""
    x = g.slot(node.input[0], where)
    g.build.value[node.output[0]] = g.build.node(op, [x], attrs, node.output[0], g.build.scales[x])


def _pool_attrs(node: onnx.NodeProto, where: str) -> dict:
    if attr(node, "ceil_mode", 0):
        raise UnsupportedOpError(f"{where}: ceil_mode=1 is not supported")
    kernel = tuple(attr(node, "kernel_shape", []))
    strides, pads, dilations = _spatial(node, where, kernel)
    if dilations != (1, 1) or attr(node, "storage_order", 0):
        raise UnsupportedOpError(f"{where}: dilated pooling / storage_order=1 are not supported")
    return {"kernel": kernel, "strides": strides, "pads": pads}


def _max_pool(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedOpError(f"{where}: the Indices output is not supported")
    _same_scale(g, OpType.MAX_POOL, node, A.PoolAttrs(**_pool_attrs(node, where)), where)


def _avg_pool(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    attrs = A.AvgPoolAttrs(**_pool_attrs(node, where), count_include_pad=bool(attr(node, "count_include_pad", 0)))
    _same_scale(g, OpType.AVG_POOL, node, attrs, where)


def _global_avg_pool(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    _same_scale(g, OpType.GLOBAL_AVG_POOL, node, A.NoAttrs(), where)


def _relu(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    _same_scale(g, OpType.RELU, node, A.NoAttrs(), where)


def _reshape_to(g: Graph, node: onnx.NodeProto, shape: tuple[int, ...], where: str) -> None:
    _same_scale(g, OpType.RESHAPE, node, A.ReshapeAttrs(shape=tuple(int(d) for d in shape)), where)


def _flatten(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    shape = g.build.shape(g.slot(node.input[0], where))
    axis = attr(node, "axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    _reshape_to(g, node, (math.prod(shape[:axis]), math.prod(shape[axis:])), where)


def _reshape(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    shape = g.build.shape(g.slot(node.input[0], where))
    target = [int(d) for d in g.const(node.input[1], where).reshape(-1)]
    if not attr(node, "allowzero", 0):
        target = [shape[i] if d == 0 else d for i, d in enumerate(target)]
    if target.count(-1) == 1:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(shape) // known if known else 0
    if math.prod(target) != math.prod(shape) or any(d < 1 for d in target):
        raise OnnxImportError(f"{where}: cannot reshape {list(shape)} to {target}")
    _reshape_to(g, node, tuple(target), where)


def _alias(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """Identity, and Dropout at inference: the output is the input."""
    g.build.value[node.output[0]] = g.slot(node.input[0], where)


def _add(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    a, b = (_activation_or_constant(g, name, node.input, where) for name in node.input)
    if g.build.shape(a) != g.build.shape(b):
        raise UnsupportedOpError(f"{where}: broadcasting Add {list(g.build.shape(a))} + {list(g.build.shape(b))}")
    final, relu = _fuse_relu(g, node.output[0])
    s_out = g.scale_of(final)
    ma, sa = quantize_multiplier(g.build.scales[a] / s_out)
    mb, sb = quantize_multiplier(g.build.scales[b] / s_out)
    attrs = A.AddAttrs(a_multiplier=ma, a_shift=sa, b_multiplier=mb, b_shift=sb, relu=relu)
    g.build.value[final] = g.build.node(OpType.ADD, [a, b], attrs, final, s_out)


def _activation_or_constant(g: Graph, name: str, inputs, where: str) -> int:
    """The slot of an Add operand; a constant operand becomes an int8 constant of the other operand's shape."""
    if name not in g.consts:
        return g.slot(name, where)
    other = [n for n in inputs if n != name]
    if len(other) != 1 or other[0] in g.consts:
        raise UnsupportedOpError(f"{where}: Add needs at least one activation operand")
    shape = g.build.shape(g.slot(other[0], where))
    value = np.broadcast_to(g.consts[name].astype(np.float64), shape)
    scale = activation_scale(float(np.abs(value).max(initial=0)))
    q = np.clip(np.round(value / scale), -INT8_MAX, INT8_MAX).astype(np.int8)
    slot = g.build.constant(name, q)
    g.build.scales[slot] = scale
    return slot


def _softmax(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    x = g.slot(node.input[0], where)
    rank = len(g.build.shape(x))
    opset = next((o.version for o in g.onnx_model.opset_import if o.domain in ("", "ai.onnx")), 13)
    axis = attr(node, "axis", -1 if opset >= 13 else 1)
    if axis % rank != rank - 1 or (opset < 13 and rank != 2):
        raise UnsupportedOpError(f"{where}: Softmax only over the last axis (axis={axis}, rank {rank})")
    table = g.build.constant(f"{node.output[0]}.exp_table", softmax_exp_table(g.build.scales[x]))
    g.build.value[node.output[0]] = g.build.node(
        OpType.SOFTMAX, [x, table], A.NoAttrs(), node.output[0], SOFTMAX_OUTPUT_SCALE
    )


def _argmax(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    x = g.slot(node.input[0], where)
    rank = len(g.build.shape(x))
    if attr(node, "axis", 0) % rank != rank - 1 or attr(node, "select_last_index", 0):
        raise UnsupportedOpError(f"{where}: ArgMax only over the last axis, first index on ties")
    attrs = A.ArgMaxAttrs(keepdims=bool(attr(node, "keepdims", 1)))
    g.build.value[node.output[0]] = g.build.node(OpType.ARGMAX, [x], attrs, node.output[0], None)

# -- transformer encoders --------------------------------------------------------------------------------------


def _reshaped(g: Graph, slot: int, shape: tuple[int, ...], name: str) -> int:
    """`slot` as a tensor of `shape` (a Reshape node, made once per slot and shape; the scale is kept)."""
    shape = tuple(int(d) for d in shape)
    if g.build.shape(slot) == shape:
        return slot
    key = (slot, shape)
    if key not in g.reshaped:
        g.reshaped[key] = g.build.node(OpType.RESHAPE, [slot], A.ReshapeAttrs(shape=shape), name,
                                       g.build.scales.get(slot))
    return g.reshaped[key]


def _shared_constant(g: Graph, name: str, data: np.ndarray) -> int:
    """One constant slot per distinct (name, value): the exp2 table, zero queries, position ids."""
    key = (name, data.dtype.str, data.shape, data.tobytes())
    if key not in g.shared:
        g.shared[key] = g.build.constant(name, data)
    return g.shared[key]


def _onnx_shape(g: Graph, name: str, where: str) -> tuple[int, ...]:
    if name not in g.shapes:
        raise OnnxImportError(f"{where}: the shape of {name!r} is unknown (import through quantize_onnx)")
    return g.shapes[name]


def _gather(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """An embedding lookup (constant table, token ids) or a row pick of an activation (constant indices: the
    [CLS] position), both the integer Gather."""
    data, indices = node.input[0], node.input[1]
    axis = int(attr(node, "axis", 0))
    if data in g.consts and indices in g.build.value:
        table = g.consts[data].astype(np.float64)
        if table.ndim != 2 or axis != 0:
            raise UnsupportedOpError(f"{where}: an embedding Gather needs a 2-D table and axis 0")
        scale = activation_scale(float(np.abs(table).max(initial=0)))
        q = np.clip(np.round(table / scale), -INT8_MAX, INT8_MAX).astype(np.int8)
        slot = g.build.constant(data, q)
        g.build.value[node.output[0]] = g.build.node(OpType.GATHER, [slot, g.slot(indices, where)], A.NoAttrs(),
                                                     node.output[0], scale)
        return
    x = g.slot(data, where)
    picks = g.const(indices, where).astype(np.int64)
    shape = g.build.shape(x)
    axis = axis + len(shape) if axis < 0 else axis
    if any(d != 1 for d in shape[:axis]) or picks.size == 0:
        raise UnsupportedOpError(f"{where}: Gather of an activation only along its first non-unit axis")
    picks = np.where(picks < 0, picks + shape[axis], picks)
    table = _reshaped(g, x, (shape[axis], math.prod(shape[axis + 1:])), f"{data}.table")
    ids = _shared_constant(g, f"{node.output[0]}.ids", picks.reshape(-1).astype(np.int32))
    rows = g.build.node(OpType.GATHER, [table, ids], A.NoAttrs(), f"{node.output[0]}.rows", g.build.scales[x])
    g.build.value[node.output[0]] = _reshaped(g, rows, _onnx_shape(g, node.output[0], where), node.output[0])


def _layer_normalization(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    x = g.slot(node.input[0], where)
    shape = g.build.shape(x)
    if attr(node, "axis", -1) % len(shape) != len(shape) - 1 or any(o for o in node.output[1:]):
        raise UnsupportedOpError(f"{where}: LayerNormalization only over the last axis, without mean/inv_std outputs")
    gamma = g.const(node.input[1], where).astype(np.float64).reshape(-1)
    beta = (g.const(node.input[2], where).astype(np.float64).reshape(-1) if len(node.input) > 2 and node.input[2]
            else np.zeros_like(gamma))
    if gamma.size != shape[-1] or beta.size != shape[-1]:
        raise UnsupportedOpError(f"{where}: scale/bias of {gamma.size} values for an axis of {shape[-1]}")
    s_out = g.scale_of(node.output[0])
    gain, bias, attrs = T.norm_constants(gamma, beta, float(attr(node, "epsilon", 1e-5)), g.build.scales[x], s_out)
    ins = [x, g.build.constant(f"{node.output[0]}.gain", gain), g.build.constant(f"{node.output[0]}.bias", bias)]
    g.build.value[node.output[0]] = g.build.node(OpType.LAYER_NORM, ins, A.NormAttrs(**attrs), node.output[0], s_out)


def _elementwise_function(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """A single-variable function f (GELU, tanh, …; onnx_patterns.py) as a 256-entry table on the int8 input."""
    from onnx.reference import ReferenceEvaluator

    x = g.slot(node.input[0], where)
    body = attr(node, "body")
    model = onnx.helper.make_model(body, opset_imports=g.onnx_model.opset_import, ir_version=g.onnx_model.ir_version)
    evaluator = ReferenceEvaluator(model)

    def f(values: np.ndarray) -> np.ndarray:
        return evaluator.run(None, {body.input[0].name: values.astype(np.float32)})[0].astype(np.float64)

    s_out = g.scale_of(node.output[0])
    table = g.build.constant(f"{node.output[0]}.table", T.lut_from_function(f, g.build.scales[x], s_out))
    g.build.value[node.output[0]] = g.build.node(OpType.LUT, [x, table], A.NoAttrs(), node.output[0], s_out)


def _key_mask(g: Graph, mask: str, batch: int, keys: int, where: str) -> int:
    """The int32 [batch, keys] key mask: the integer mask input, or ones when the pattern has none."""
    if not mask:
        return _shared_constant(g, "key_mask.ones", np.ones((batch, keys), dtype=np.int32))
    slot = g.slot(mask, where)
    if g.build.tensors[slot].dtype != "int32" or g.build.shape(slot) != (batch, keys):
        raise OnnxImportError(f"{where}: mask {mask!r} is not an int32 [{batch}, {keys}] token input")
    return slot


def _attention_node(g: Graph, q: int, k: int, v: int, mask: str, attrs: A.AttentionAttrs, output: str,
                    s_out: float, where: str) -> int:
    batch, seq = g.build.shape(q)[:2]
    positions = _shared_constant(g, "positions", T.causal_positions(0, seq, batch))
    table = _shared_constant(g, "exp2_table", T.exp2_table())
    key_mask = _key_mask(g, mask, batch, g.build.shape(k)[1], where)
    return g.build.node(OpType.ATTENTION, [q, k, v, positions, key_mask, table], attrs, output, s_out)


def _attention(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """softmax(score_scale · q·kᵀ + padding bias) · v over heads: q, k, v [1, S, H, d] (onnx_patterns.py)."""
    q, k, v = (g.slot(name, where) for name in node.input[:3])
    s_q, s_k, s_v = (g.build.scales[slot] for slot in (q, k, v))
    s_out = g.scale_of(node.output[0])
    sm, ss = quantize_multiplier(s_q * s_k * float(attr(node, "scale")) * T.EXP2_TABLE_SIZE / math.log(2))
    om, os_ = quantize_multiplier(s_v / (s_out * (1 << ATTENTION_PROB_BITS)))
    attrs = A.AttentionAttrs(score_multiplier=sm, score_shift=ss, out_multiplier=om, out_shift=os_)
    g.build.value[node.output[0]] = _attention_node(g, q, k, v, node.input[3], attrs, node.output[0], s_out, where)


def _masked_mean(g: Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """Mean of h [1, S, D] over the unpadded positions: an Attention whose query and keys are zero, so every
    visible key gets the probability 1/count."""
    h = g.slot(node.input[0], where)
    batch, seq, width = g.build.shape(h)
    v = _reshaped(g, h, (batch, seq, 1, width), f"{node.input[0]}.heads")
    q = _shared_constant(g, "mean.query", np.zeros((batch, 1, 1, width), dtype=np.int8))
    k = _shared_constant(g, "mean.keys", np.zeros((batch, seq, 1, width), dtype=np.int8))
    s_out = g.scale_of(node.output[0])
    om, os_ = quantize_multiplier(g.build.scales[h] / (s_out * (1 << ATTENTION_PROB_BITS)))
    attrs = A.AttentionAttrs(score_multiplier=0, score_shift=0, out_multiplier=om, out_shift=os_)
    pooled = _attention_node(g, q, k, v, node.input[1], attrs, f"{node.output[0]}.heads", s_out, where)
    g.build.value[node.output[0]] = _reshaped(g, pooled, _onnx_shape(g, node.output[0], where), node.output[0])


def _token_inputs(g: Graph, names: list[str]) -> int:
    """One int32 [len(names), S] model input "tokens" whose rows are the graph's integer inputs; each row is
    picked out by a Gather into a tensor named after its input."""
    seqs = {_onnx_shape(g, name, "token input") for name in names}
    if len(seqs) != 1:
        raise OnnxImportError(f"token inputs {names} have different shapes {sorted(seqs)}")
    (shape,) = seqs
    tokens = g.build.input(TOKENS_INPUT, TensorType("int32", (len(names), shape[-1])), 1.0)
    for row, name in enumerate(names):
        ids = _shared_constant(g, f"{name}.row", np.array([row], dtype=np.int32))
        g.build.value[name] = g.build.node(OpType.GATHER, [tokens, ids], A.NoAttrs(), name, None)
    return tokens


TOKENS_INPUT = "tokens"


LOWERINGS: dict[str, Callable[[Graph, int, onnx.NodeProto, str], None]] = {
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Conv": _conv,
    "Relu": _relu,
    "MaxPool": _max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_avg_pool,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Add": _add,
    "Softmax": _softmax,
    "BatchNormalization": _batch_norm,
    "ArgMax": _argmax,
    "Identity": _alias,
    "Dropout": _alias,
    "Gather": _gather,
    "LayerNormalization": _layer_normalization,
}
# nodes written by onnx_patterns.rewrite
PATTERN_LOWERINGS: dict[str, Callable[[Graph, int, onnx.NodeProto, str], None]] = {
    "Attention": _attention,
    "MaskedMean": _masked_mean,
    "ElementwiseFunction": _elementwise_function,
}
# ops the preparation (onnx_fold, onnx_patterns) may fold away or fuse into a pattern
PREPARED_OPS = ("Shape", "Size", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "ConstantOfShape", "Range",
                "Expand", "Equal", "Where", "Not", "Transpose", "ReduceMean", "ReduceSum", "Sub", "Mul", "Div",
                "Pow", "Sqrt", "Erf", "Tanh", "Gelu", "Neg", "Clip")


def _lowering(node: onnx.NodeProto):
    if node.domain == DOMAIN:
        return PATTERN_LOWERINGS.get(node.op_type)
    return LOWERINGS.get(node.op_type) if node.domain in ("", "ai.onnx") else None


def _unsupported(node: onnx.NodeProto, index: int, why: str = "") -> UnsupportedOpError:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    return UnsupportedOpError(f"unsupported ONNX op {op!r} at {node_label(node, index)}{why} "
                              f"(supported: {', '.join(sorted(LOWERINGS))})")


def check_supported(onnx_model: onnx.ModelProto, prepared: bool = False) -> None:
    """UnsupportedOpError naming the first node whose op the importer can neither lower nor (unless the graph
    is already `prepared`: folded and rewritten) fold or fuse into a pattern, before any calibration;
    OnnxImportError if the graph's inputs are not one float tensor of fixed dims or integer [batch, sequence]
    token tensors."""
    for index, node in enumerate(onnx_model.graph.node):
        foldable = node.domain in ("", "ai.onnx") and node.op_type in PREPARED_OPS
        if not (node.op_type == "Constant" or _lowering(node) is not None or (foldable and not prepared)):
            raise _unsupported(node, index, " (not part of a recognized pattern)" if foldable else "")
    consts = collect_constants(onnx_model)
    if token_inputs(onnx_model, consts) is None:
        graph_input(onnx_model, consts)


def lower(onnx_model: onnx.ModelProto, ranges: dict[str, float], name: str,
          shapes: dict[str, tuple[int, ...]] | None = None) -> QuantizedModel:
    """The integer model of a (check_supported) ONNX graph, given every tensor's calibrated magnitude.
    An encoder's graph comes folded and rewritten (onnx_fold, onnx_patterns) with the probed `shapes`."""
    g = Graph(onnx_model, ranges, consts=collect_constants(onnx_model), shapes=dict(shapes or {}))
    for index, node in enumerate(g.nodes):
        for tensor in node.input:
            g.consumers.setdefault(tensor, []).append(index)
    tokens = token_inputs(onnx_model, g.consts)
    if tokens is None:
        input_name, shape = graph_input(onnx_model, g.consts)
        model_input = g.build.input(input_name, TensorType("int8", shape), g.scale_of(input_name))
    else:
        model_input = _token_inputs(g, tokens)
    for index, node in enumerate(g.nodes):
        if index in g.fused or node.op_type == "Constant":
            continue
        where = node_label(node, index)
        lowering = _lowering(node)
        if lowering is None:
            raise _unsupported(node, index, " (not part of a recognized pattern)" if node.op_type in PREPARED_OPS
                               else "")
        try:
            lowering(g, index, node, where)
        except OnnxImportError:
            raise
        except ValueError as exc:  # OpError, QuantError, pydantic: the integer ops' attribute and shape checks
            raise OnnxImportError(f"{where}: {exc}") from None
    outputs = [o.name for o in onnx_model.graph.output]
    if len(outputs) != 1:
        raise OnnxImportError(f"the graph has {len(outputs)} outputs; exactly one is supported")
    b = g.build
    model = Model(name, b.tensors, [model_input], [g.slot(outputs[0], "graph output")], b.nodes, b.constants)
    return QuantizedModel(model.validate(), b.scales)
