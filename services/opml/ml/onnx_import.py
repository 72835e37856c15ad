"""ONNX float graph → quantized integer `Model` (post-training quantization with a calibration set).

Quantization (symmetric, zero point 0 everywhere; docs/ops.md):
- every activation tensor T gets one scale S_T = r_T / 127, r_T its calibrated magnitude (`calibrate.py`);
  real ≈ S_T · q, q int8;
- weights: per output channel o, S_w[o] = max|W[o]| / 127, W_q = round(W / S_w[o]) in [−127, 127];
- biases: int32 b_q = round(b / (S_in · S_w[o]));
- a matmul-like op (Gemm, MatMul[+Add], Conv) becomes FullyConnected / Conv2D (int32 accumulators) followed by
  Requantize with M[o] = S_in · S_w[o] / S_out, fusing a following Relu (S_out is then the Relu output's scale);
- MaxPool, Relu, Reshape/Flatten keep the scale; AveragePool / GlobalAveragePool keep it (integer mean);
- Add of two activations rescales both to the output scale; Softmax outputs probabilities at scale 1/127.

The model takes one int8 input (batch 1) and returns one int8 (or ArgMax int32) output. The scales needed to
quantize inputs and read outputs come with the model (`scales.QuantizedModel`, saved next to the model file).

Import is deterministic: calibrated magnitudes are rounded up to RANGE_BITS significant bits, so float noise
between machines (onnxruntime kernels differ by CPU) does not change the integer model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import structlog
from onnx import numpy_helper

from . import attrs as A
from .calibrate import Method, activation_ranges
from .errors import MLError
from .model import Model, Node, TensorSpec
from .ops import OpType, infer
from .quant import quantize_multiplier
from .reference import softmax_exp_table
from .scales import QuantizedModel
from .tensor import TensorType

log = structlog.get_logger(__name__)

INT8_MAX = 127
SOFTMAX_OUTPUT_SCALE = 1.0 / 127
RANGE_BITS = 10


class OnnxImportError(MLError, ValueError):
    """The ONNX file cannot be read, or its graph cannot be turned into an integer model."""


class UnsupportedOpError(OnnxImportError):
    """The graph contains an op (or an op configuration) the integer runtime does not implement."""


# ---------------------------------------------------------------------------------------------------------------
# Reading the ONNX file


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """Load and check an ONNX file; OnnxImportError if it is missing, corrupted or not a valid model."""
    path = Path(path)
    if not path.is_file():
        raise OnnxImportError(f"{path}: no such ONNX file")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, onnx.checker.ValidationError, ...
        raise OnnxImportError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    return model


def _attr(node: onnx.NodeProto, name: str, default=None):
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"{node.op_type} node {node.name or f'#{index}'!r}"


# ---------------------------------------------------------------------------------------------------------------
# The integer graph under construction


@dataclass
class _Builder:
    """Slots, constants and nodes of the integer graph; `value` maps an ONNX tensor name to its slot."""

    tensors: list[TensorSpec] = field(default_factory=list)
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    value: dict[str, int] = field(default_factory=dict)
    scales: dict[int, float] = field(default_factory=dict)

    def _new_slot(self, name: str, type_: TensorType, constant: bool = False) -> int:
        taken = {t.name for t in self.tensors}
        unique, n = name, 1
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        self.tensors.append(TensorSpec(unique, type_.dtype, tuple(type_.shape), constant))
        return len(self.tensors) - 1

    def constant(self, name: str, data: np.ndarray) -> int:
        dtype = {np.dtype(np.int8): "int8", np.dtype(np.int32): "int32"}[data.dtype]
        slot = self._new_slot(name, TensorType(dtype, tuple(int(d) for d in data.shape)), constant=True)
        self.constants[slot] = np.ascontiguousarray(data)
        return slot

    def input(self, name: str, type_: TensorType, scale: float) -> int:
        slot = self._new_slot(name, type_)
        self.value[name], self.scales[slot] = slot, scale
        return slot

    def node(self, op: OpType, inputs: list[int], attrs: A.Attrs, name: str, scale: float | None) -> int:
        """Append op(inputs) writing a fresh slot `name`; its type comes from the op's shape inference."""
        out_type = infer(op, [self.tensors[s].type for s in inputs], attrs)
        slot = self._new_slot(name, out_type)
        self.nodes.append(Node(op, tuple(inputs), slot, attrs))
        if scale is not None:
            self.scales[slot] = scale
        return slot

    def shape(self, slot: int) -> tuple[int, ...]:
        return self.tensors[slot].shape


# ---------------------------------------------------------------------------------------------------------------
# Quantization helpers


def round_range(magnitude: float) -> float:
    """`magnitude` rounded up to RANGE_BITS significant bits (exact binary fractions: same on every machine)."""
    if not (magnitude > 0 and math.isfinite(magnitude)):
        return 0.0
    mantissa, exponent = math.frexp(magnitude)
    return math.ldexp(math.ceil(mantissa * (1 << RANGE_BITS)), exponent - RANGE_BITS)


def _scale(magnitude: float) -> float:
    """int8 scale covering [−magnitude, magnitude]; a tensor that is always 0 gets scale 1."""
    magnitude = round_range(magnitude)
    return magnitude / INT8_MAX if magnitude > 0 else 1.0


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (axis 0) symmetric int8: returns (W_q, S_w[o])."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    scales = np.abs(flat).max(axis=1) / INT8_MAX
    scales[scales == 0] = 1.0
    q = np.clip(np.round(flat / scales[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q.reshape(w.shape), scales


def quantize_bias(b: np.ndarray, scales: np.ndarray, where: str) -> np.ndarray:
    """int32 bias at scale S_in · S_w[o]; OnnxImportError if it does not fit in int32."""
    q = np.round(b.astype(np.float64) / scales)
    if np.abs(q).max(initial=0) >= 2**31:
        raise OnnxImportError(f"{where}: bias does not fit in int32 at scale S_in·S_w")
    return q.astype(np.int32)


def _requantize_attrs(real: np.ndarray, relu: bool, where: str) -> A.RequantizeAttrs:
    pairs = [quantize_multiplier(float(m)) for m in real]
    if len(set(pairs)) == 1:
        pairs = pairs[:1]
    return A.RequantizeAttrs(
        multipliers=tuple(m for m, _ in pairs), shifts=tuple(s for _, s in pairs), axis=1, relu=relu
    )


# ---------------------------------------------------------------------------------------------------------------
# Lowering, one function per ONNX op


@dataclass
class _Graph:
    """The ONNX graph being lowered: constants, consumers, calibration ranges and the builder."""

    onnx_model: onnx.ModelProto
    ranges: dict[str, float]
    build: _Builder = field(default_factory=_Builder)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)
    fused: set[int] = field(default_factory=set)

    def const(self, name: str, where: str) -> np.ndarray:
        if name not in self.consts:
            raise UnsupportedOpError(f"{where}: input {name!r} must be a constant (initializer) for this op")
        return self.consts[name]

    def slot(self, name: str, where: str) -> int:
        if name not in self.build.value:
            raise UnsupportedOpError(f"{where}: input {name!r} is not an activation the importer produced")
        return self.build.value[name]

    def scale_of(self, name: str) -> float:
        return _scale(self.ranges[name])

    def sole_consumer(self, name: str, op_types: tuple[str, ...]) -> int | None:
        """Index of the only node reading `name`, if it is one of op_types and `name` is not a graph output."""
        readers = self.consumers.get(name, [])
        outputs = {o.name for o in self.onnx_model.graph.output}
        if len(readers) == 1 and name not in outputs and self.nodes[readers[0]].op_type in op_types:
            return readers[0]
        return None

    @property
    def nodes(self):
        return self.onnx_model.graph.node


def _fuse_relu(g: _Graph, output: str) -> tuple[str, bool]:
    """(final ONNX tensor name, relu) after absorbing a Relu that is the sole consumer of `output`."""
    relu = g.sole_consumer(output, ("Relu",))
    if relu is None:
        return output, False
    g.fused.add(relu)
    return g.nodes[relu].output[0], True


def _emit_matmul_like(g: _Graph, op: OpType, x_name: str, w: np.ndarray, b: np.ndarray | None,
                      attrs: A.Attrs, output: str, where: str) -> None:
    """op(x, W_q, b_q) → int32, then Requantize (with a fused Relu) → int8 at the output's calibrated scale."""
    x = g.slot(x_name, where)
    s_in = g.build.scales[x]
    w_q, s_w = quantize_weights(w)
    bias = np.zeros(w.shape[0]) if b is None else b
    b_q = quantize_bias(bias, s_in * s_w, where)
    final, relu = _fuse_relu(g, output)
    s_out = g.scale_of(final)
    w_slot = g.build.constant(f"{output}.weight", w_q)
    b_slot = g.build.constant(f"{output}.bias", b_q)
    acc = g.build.node(op, [x, w_slot, b_slot], attrs, f"{output}.acc", None)
    g.build.value[final] = g.build.node(
        OpType.REQUANTIZE, [acc], _requantize_attrs(s_in * s_w / s_out, relu, where), final, s_out
    )


def _gemm(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    if _attr(node, "transA", 0):
        raise UnsupportedOpError(f"{where}: transA=1 is not supported")
    w = g.const(node.input[1], where).astype(np.float64) * _attr(node, "alpha", 1.0)
    if not _attr(node, "transB", 0):
        w = w.T
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = _bias_vector(g.const(node.input[2], where) * _attr(node, "beta", 1.0), w.shape[0], where)
    _check_fc_input(g, node.input[0], w, where)
    _emit_matmul_like(g, OpType.FULLY_CONNECTED, node.input[0], w, bias, A.NoAttrs(), node.output[0], where)


def _matmul(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
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


def _check_fc_input(g: _Graph, name: str, w: np.ndarray, where: str) -> None:
    shape = g.build.shape(g.slot(name, where))
    if len(shape) != 2 or shape[1] != w.shape[1]:
        raise OnnxImportError(f"{where}: input {name!r} of shape {list(shape)} does not match weights K={w.shape[1]}")


def _spatial(node: onnx.NodeProto, where: str, kernel: tuple[int, int]) -> tuple[tuple, tuple, tuple]:
    """(strides, pads as (top, left, bottom, right), dilations) of a 2-D Conv/Pool node."""
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedOpError(f"{where}: auto_pad={auto_pad} is not supported (export with explicit pads)")
    strides = tuple(_attr(node, "strides", [1, 1]))
    pads = tuple(_attr(node, "pads", [0, 0, 0, 0])) if auto_pad == "NOTSET" else (0, 0, 0, 0)
    dilations = tuple(_attr(node, "dilations", [1, 1]))
    if len(kernel) != 2 or len(strides) != 2 or len(pads) != 4 or len(dilations) != 2:
        raise UnsupportedOpError(f"{where}: only 2-D spatial ops are supported")
    return strides, (pads[0], pads[1], pads[2], pads[3]), dilations


def _conv(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    w = g.const(node.input[1], where).astype(np.float64)
    if w.ndim != 4:
        raise UnsupportedOpError(f"{where}: only 2-D convolutions (4-D weights) are supported, got {w.shape}")
    strides, pads, dilations = _spatial(node, where, tuple(w.shape[2:]))
    bias = g.const(node.input[2], where).astype(np.float64) if len(node.input) > 2 and node.input[2] else None
    attrs = A.Conv2DAttrs(strides=strides, pads=pads, dilations=dilations, groups=int(_attr(node, "group", 1)))
    _emit_matmul_like(g, OpType.CONV2D, node.input[0], w, bias, attrs, node.output[0], where)


def _same_scale(g: _Graph, op: OpType, node: onnx.NodeProto, attrs: A.Attrs, where: str) -> None:
    """An op whose output has its input's scale (pools, ReLU, reshapes)."""
    x = g.slot(node.input[0], where)
    g.build.value[node.output[0]] = g.build.node(op, [x], attrs, node.output[0], g.build.scales[x])


def _pool_attrs(node: onnx.NodeProto, where: str) -> dict:
    if _attr(node, "ceil_mode", 0):
        raise UnsupportedOpError(f"{where}: ceil_mode=1 is not supported")
    kernel = tuple(_attr(node, "kernel_shape", []))
    strides, pads, dilations = _spatial(node, where, kernel)
    if dilations != (1, 1) or _attr(node, "storage_order", 0):
        raise UnsupportedOpError(f"{where}: dilated pooling / storage_order=1 are not supported")
    return {"kernel": kernel, "strides": strides, "pads": pads}


def _max_pool(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedOpError(f"{where}: the Indices output is not supported")
    _same_scale(g, OpType.MAX_POOL, node, A.PoolAttrs(**_pool_attrs(node, where)), where)


def _avg_pool(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    attrs = A.AvgPoolAttrs(**_pool_attrs(node, where), count_include_pad=bool(_attr(node, "count_include_pad", 0)))
    _same_scale(g, OpType.AVG_POOL, node, attrs, where)


def _global_avg_pool(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    _same_scale(g, OpType.GLOBAL_AVG_POOL, node, A.NoAttrs(), where)


def _relu(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    _same_scale(g, OpType.RELU, node, A.NoAttrs(), where)


def _reshape_to(g: _Graph, node: onnx.NodeProto, shape: tuple[int, ...], where: str) -> None:
    _same_scale(g, OpType.RESHAPE, node, A.ReshapeAttrs(shape=tuple(int(d) for d in shape)), where)


def _flatten(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    shape = g.build.shape(g.slot(node.input[0], where))
    axis = _attr(node, "axis", 1) % (len(shape) or 1) if _attr(node, "axis", 1) < 0 else _attr(node, "axis", 1)
    _reshape_to(g, node, (math.prod(shape[:axis]), math.prod(shape[axis:])), where)


def _reshape(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    shape = g.build.shape(g.slot(node.input[0], where))
    target = [int(d) for d in g.const(node.input[1], where).reshape(-1)]
    if not _attr(node, "allowzero", 0):
        target = [shape[i] if d == 0 else d for i, d in enumerate(target)]
    if target.count(-1) == 1:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(shape) // known if known else 0
    if math.prod(target) != math.prod(shape) or any(d < 1 for d in target):
        raise OnnxImportError(f"{where}: cannot reshape {list(shape)} to {target}")
    _reshape_to(g, node, tuple(target), where)


def _alias(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    """Identity, and Dropout at inference: the output is the input."""
    g.build.value[node.output[0]] = g.slot(node.input[0], where)


def _add(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    a, b = (_activation_or_constant(g, name, node.input, where) for name in node.input)
    if g.build.shape(a) != g.build.shape(b):
        raise UnsupportedOpError(f"{where}: broadcasting Add {list(g.build.shape(a))} + {list(g.build.shape(b))}")
    final, relu = _fuse_relu(g, node.output[0])
    s_out = g.scale_of(final)
    ma, sa = quantize_multiplier(g.build.scales[a] / s_out)
    mb, sb = quantize_multiplier(g.build.scales[b] / s_out)
    attrs = A.AddAttrs(a_multiplier=ma, a_shift=sa, b_multiplier=mb, b_shift=sb, relu=relu)
    g.build.value[final] = g.build.node(OpType.ADD, [a, b], attrs, final, s_out)


def _activation_or_constant(g: _Graph, name: str, inputs, where: str) -> int:
    """The slot of an Add operand; a constant operand becomes an int8 constant of the other operand's shape."""
    if name not in g.consts:
        return g.slot(name, where)
    other = [n for n in inputs if n != name]
    if len(other) != 1 or other[0] in g.consts:
        raise UnsupportedOpError(f"{where}: Add needs at least one activation operand")
    shape = g.build.shape(g.slot(other[0], where))
    value = np.broadcast_to(g.consts[name].astype(np.float64), shape)
    scale = _scale(float(np.abs(value).max(initial=0)))
    q = np.clip(np.round(value / scale), -INT8_MAX, INT8_MAX).astype(np.int8)
    slot = g.build.constant(name, q)
    g.build.scales[slot] = scale
    return slot


def _softmax(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    x = g.slot(node.input[0], where)
    rank = len(g.build.shape(x))
    opset = next((o.version for o in g.onnx_model.opset_import if o.domain in ("", "ai.onnx")), 13)
    axis = _attr(node, "axis", -1 if opset >= 13 else 1)
    if axis % rank != rank - 1 or (opset < 13 and rank != 2):
        raise UnsupportedOpError(f"{where}: Softmax only over the last axis (axis={axis}, rank {rank})")
    table = g.build.constant(f"{node.output[0]}.exp_table", softmax_exp_table(g.build.scales[x]))
    g.build.value[node.output[0]] = g.build.node(
        OpType.SOFTMAX, [x, table], A.NoAttrs(), node.output[0], SOFTMAX_OUTPUT_SCALE
    )


def _argmax(g: _Graph, index: int, node: onnx.NodeProto, where: str) -> None:
    x = g.slot(node.input[0], where)
    rank = len(g.build.shape(x))
    if _attr(node, "axis", 0) % rank != rank - 1 or _attr(node, "select_last_index", 0):
        raise UnsupportedOpError(f"{where}: ArgMax only over the last axis, first index on ties")
    attrs = A.ArgMaxAttrs(keepdims=bool(_attr(node, "keepdims", 1)))
    g.build.value[node.output[0]] = g.build.node(OpType.ARGMAX, [x], attrs, node.output[0], None)


LOWERINGS: dict[str, Callable[[_Graph, int, onnx.NodeProto, str], None]] = {
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
    "ArgMax": _argmax,
    "Identity": _alias,
    "Dropout": _alias,
}


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def _collect_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = _attr(node, "value")
            if value is None:
                raise UnsupportedOpError(f"Constant node {node.name!r}: only the 'value' attribute is supported")
            consts[node.output[0]] = numpy_helper.to_array(value)
    return consts


def _graph_input(model: onnx.ModelProto, consts: dict) -> tuple[str, tuple[int, ...]]:
    """The single non-constant graph input and its shape with the batch axis fixed to 1."""
    inputs = [i for i in model.graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"the graph has {len(inputs)} inputs; exactly one is supported")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if not shape or any(d is None for d in shape[1:]) or shape[0] not in (None, 1):
        raise OnnxImportError(f"input {inputs[0].name!r} must have shape [batch or 1, fixed dims...], got {shape}")
    return inputs[0].name, (1, *shape[1:])


def check_supported(onnx_model: onnx.ModelProto) -> None:
    """UnsupportedOpError naming the first node whose op the importer cannot lower (before any calibration)."""
    for index, node in enumerate(onnx_model.graph.node):
        known = node.domain in ("", "ai.onnx") and (node.op_type in LOWERINGS or node.op_type == "Constant")
        if not known:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            raise UnsupportedOpError(f"unsupported ONNX op {op!r} at {_node_label(node, index)} "
                                     f"(supported: {', '.join(sorted(LOWERINGS))})")
    _graph_input(onnx_model, _collect_constants(onnx_model))


def _lower(onnx_model: onnx.ModelProto, ranges: dict[str, float], name: str) -> QuantizedModel:
    g = _Graph(onnx_model, ranges, consts=_collect_constants(onnx_model))
    for index, node in enumerate(g.nodes):
        for tensor in node.input:
            g.consumers.setdefault(tensor, []).append(index)
    input_name, shape = _graph_input(onnx_model, g.consts)
    g.build.input(input_name, TensorType("int8", shape), g.scale_of(input_name))
    for index, node in enumerate(g.nodes):
        if index in g.fused or node.op_type == "Constant":
            continue
        LOWERINGS[node.op_type](g, index, node, _node_label(node, index))
    outputs = [o.name for o in onnx_model.graph.output]
    if len(outputs) != 1:
        raise OnnxImportError(f"the graph has {len(outputs)} outputs; exactly one is supported")
    b = g.build
    model = Model(name, b.tensors, [b.value[input_name]], [g.slot(outputs[0], "graph output")], b.nodes, b.constants)
    return QuantizedModel(model.validate(), b.scales)


def quantize_onnx(
    onnx_model: onnx.ModelProto, calibration: np.ndarray, *, name: str = "model", method: Method = "maxabs",
    percentile: float = 99.99,
) -> QuantizedModel:
    """Quantize a float ONNX model with activation ranges measured on `calibration` (float inputs, batch first)."""
    check_supported(onnx_model)
    ranges = activation_ranges(onnx_model, calibration, method, percentile)
    quantized = _lower(onnx_model, ranges, name)
    log.info("onnx_imported", model=name, nodes=len(quantized.model.nodes), tensors=len(quantized.model.tensors),
             method=method)
    return quantized


def import_onnx(path: str | Path, calibration: np.ndarray, **options) -> QuantizedModel:
    """`read_onnx` + `quantize_onnx`; the model is named after the file."""
    options.setdefault("name", Path(path).stem)
    return quantize_onnx(read_onnx(path), calibration, **options)
