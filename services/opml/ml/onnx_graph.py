"""The state of one ONNX → integer graph lowering: the ONNX graph being read and the integer graph being built.

`Graph` knows the ONNX side (constants, consumers of each tensor, calibrated ranges); its `Builder` the integer
side (slots, constants, nodes, and the scale of every int8 activation slot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from . import attrs as A
from .errors import MLError
from .model import Node, TensorSpec
from .ops import OpType, infer
from .ptq import activation_scale
from .tensor import TensorType


class OnnxImportError(MLError, ValueError):
    """The ONNX file cannot be read, or its graph cannot be turned into an integer model."""


class UnsupportedOpError(OnnxImportError):
    """The graph contains an op (or an op configuration) the integer runtime does not implement."""


def attr(node: onnx.NodeProto, name: str, default=None):
    """The value of attribute `name` of `node` (strings decoded), or `default` when it is absent."""
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def set_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    """Replace the graph's nodes by (copies of) `nodes`."""
    copies = []
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)


def node_label(node: onnx.NodeProto, index: int) -> str:
    """'Conv node "name"' (or '#index' for an unnamed node), for error messages."""
    return f"{node.op_type} node {node.name or f'#{index}'!r}"


@dataclass
class Builder:
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


@dataclass
class Graph:
    """The ONNX graph being lowered: constants, consumers, calibration ranges and the builder."""

    onnx_model: onnx.ModelProto
    ranges: dict[str, float]
    build: Builder = field(default_factory=Builder)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)
    fused: set[int] = field(default_factory=set)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    reshaped: dict[tuple, int] = field(default_factory=dict)
    shared: dict[tuple, int] = field(default_factory=dict)

    def const(self, name: str, where: str) -> np.ndarray:
        if name not in self.consts:
            raise UnsupportedOpError(f"{where}: input {name!r} must be a constant (initializer) for this op")
        return self.consts[name]

    def slot(self, name: str, where: str) -> int:
        if name not in self.build.value:
            raise UnsupportedOpError(f"{where}: input {name!r} is not an activation the importer produced")
        return self.build.value[name]

    def scale_of(self, name: str) -> float:
        return activation_scale(self.ranges[name])

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


def collect_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant of the graph by tensor name: initializers and the outputs of Constant nodes."""
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = attr(node, "value")
            if value is None:
                raise UnsupportedOpError(f"Constant node {node.name!r}: only the 'value' attribute is supported")
            consts[node.output[0]] = numpy_helper.to_array(value)
    return consts


def graph_input(model: onnx.ModelProto, consts: dict) -> tuple[str, tuple[int, ...]]:
    """The single non-constant graph input and its shape with the batch axis fixed to 1."""
    inputs = [i for i in model.graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"the graph has {len(inputs)} inputs; exactly one is supported")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if not shape or any(d is None for d in shape[1:]) or shape[0] not in (None, 1):
        raise OnnxImportError(f"input {inputs[0].name!r} must have shape [batch or 1, fixed dims...], got {shape}")
    return inputs[0].name, (1, *shape[1:])


TOKEN_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)


def token_inputs(model: onnx.ModelProto, consts: dict) -> list[str] | None:
    """The names of the graph's inputs if they are all integer [batch, sequence] token tensors (an encoder's
    input_ids, attention_mask, token_type_ids, …), None if no input is an integer tensor."""
    inputs = [i for i in model.graph.input if i.name not in consts]
    integer = [i for i in inputs if i.type.tensor_type.elem_type in TOKEN_TYPES]
    if not integer:
        return None
    if len(integer) != len(inputs):
        raise OnnxImportError(f"the graph mixes integer inputs {[i.name for i in integer]} with other inputs; "
                              f"an encoder's inputs must all be integer token tensors")
    for value in integer:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 2 or (dims[0].HasField("dim_value") and dims[0].dim_value != 1):
            shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
            raise OnnxImportError(f"token input {value.name!r} must have shape [batch or 1, sequence], got {shape}")
    return [i.name for i in integer]
