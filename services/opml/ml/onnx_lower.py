"""Lowering, one function per ONNX op: each reads its node and appends integer nodes to the graph's builder.

A matmul-like op (Gemm, MatMul[+Add], Conv) becomes FullyConnected / Conv2D (int32 accumulators) and a
Requantize that fuses a following Relu (an inference BatchNormalization in between is folded into the weights);
MaxPool, Relu, Reshape/Flatten and the average pools keep their input's scale; Add rescales both operands to its
output scale; Softmax outputs probabilities at scale 1/127.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx

from . import attrs as A
from .errors import QuantError
from .model import Model
from .onnx_graph import (
    Graph,
    OnnxImportError,
    UnsupportedOpError,
    attr,
    collect_constants,
    graph_input,
    node_label,
)
from .ops import OpType
from .ptq import INT8_MAX, activation_scale, quantize_bias, quantize_weights, requantize_attrs
from .quant import quantize_multiplier
from .reference import softmax_exp_table
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
    g.build.value[final] = g.build.node(
        OpType.REQUANTIZE, [acc], requantize_attrs(s_in * s_w / s_out, relu), final, s_out
    )


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
    if len(shape) != 2 or shape[1] != w.shape[1]:
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
}


def check_supported(onnx_model: onnx.ModelProto) -> None:
    """UnsupportedOpError naming the first node whose op the importer cannot lower (before any calibration)."""
    for index, node in enumerate(onnx_model.graph.node):
        known = node.domain in ("", "ai.onnx") and (node.op_type in LOWERINGS or node.op_type == "Constant")
        if not known:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            raise UnsupportedOpError(f"unsupported ONNX op {op!r} at {node_label(node, index)} "
                                     f"(supported: {', '.join(sorted(LOWERINGS))})")
    graph_input(onnx_model, collect_constants(onnx_model))


def lower(onnx_model: onnx.ModelProto, ranges: dict[str, float], name: str) -> QuantizedModel:
    """The integer model of a (check_supported) ONNX graph, given every tensor's calibrated magnitude."""
    g = Graph(onnx_model, ranges, consts=collect_constants(onnx_model))
    for index, node in enumerate(g.nodes):
        for tensor in node.input:
            g.consumers.setdefault(tensor, []).append(index)
    input_name, shape = graph_input(onnx_model, g.consts)
    g.build.input(input_name, TensorType("int8", shape), g.scale_of(input_name))
    for index, node in enumerate(g.nodes):
        if index in g.fused or node.op_type == "Constant":
            continue
        where = node_label(node, index)
        try:
            LOWERINGS[node.op_type](g, index, node, where)
        except OnnxImportError:
            raise
        except ValueError as exc:  # OpError, QuantError, pydantic: the integer ops' attribute and shape checks
            raise OnnxImportError(f"{where}: {exc}") from None
    outputs = [o.name for o in onnx_model.graph.output]
    if len(outputs) != 1:
        raise OnnxImportError(f"the graph has {len(outputs)} outputs; exactly one is supported")
    b = g.build
    model = Model(name, b.tensors, [b.value[input_name]], [g.slot(outputs[0], "graph output")], b.nodes, b.constants)
    return QuantizedModel(model.validate(), b.scales)
