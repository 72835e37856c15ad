"""Shape-subgraph folding: fix the graph's input shapes (batch 1) and replace every tensor that does not depend
on the input *values* by a constant.

An exported transformer computes its reshape targets, position ids and default token types at run time from the
input's shape (Shape → Gather → Unsqueeze → Concat → Reshape, Slice of a position table, ConstantOfShape …).
Once the input shapes are fixed these tensors are constants. `fold_static` runs the graph once on a probe input
(onnxruntime, every tensor exposed), marks as static every initializer, Constant output, Shape/Size output and
output of a node whose inputs are all static, and returns a graph in which the static nodes are gone and the
static tensors read by the remaining nodes are initializers holding their probed values. It also returns the
shape of every tensor, which the lowering uses instead of re-deriving ONNX shape semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from .onnx_graph import OnnxImportError, set_nodes

SHAPE_OPS = ("Shape", "Size")


@dataclass
class Folded:
    """The folded graph and the probed shape of each of its tensors (inputs and node outputs)."""

    model: onnx.ModelProto
    shapes: dict[str, tuple[int, ...]]


def with_fixed_inputs(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    """A copy of `model` whose graph inputs named in `shapes` have those fixed dimensions."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for d in shapes[value.name]:
                dims.add().dim_value = int(d)
    return fixed


def _exposed(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with every node output that shape inference can type added as a graph output."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    except Exception as exc:  # onnx raises its own InferenceError types
        raise OnnxImportError(f"ONNX shape inference fails on the graph: {exc}") from None
    types = {info.name: info.type.tensor_type.elem_type for info in inferred}
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in present and types.get(name):
                exposed.graph.output.append(onnx.helper.make_tensor_value_info(name, types[name], None))
                present.add(name)
    return exposed


def probe(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor the graph computes on `feeds` (batch 1), by name (inputs included)."""
    exposed = _exposed(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, feeds)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise OnnxImportError(f"onnxruntime cannot run the graph on the probe input: {exc}") from None
    return {**feeds, **dict(zip(names, (np.asarray(v) for v in values)))}


def static_tensors(model: onnx.ModelProto) -> set[str]:
    """Names of the tensors that depend only on constants and on the (fixed) input shapes."""
    static = {init.name for init in model.graph.initializer} | {""}
    for node in model.graph.node:
        if node.op_type in SHAPE_OPS or node.op_type == "Constant" or all(i in static for i in node.input):
            static.update(node.output)
    return static - {""}


def fold_static(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> Folded:
    """Fix the inputs to the shapes of `feeds` (one item each) and fold the static tensors (module docstring)."""
    fixed = with_fixed_inputs(model, {name: value.shape for name, value in feeds.items()})
    values = probe(fixed, feeds)
    static = static_tensors(fixed)
    graph = fixed.graph
    kept = [n for n in graph.node if not all(o in static for o in n.output if o)]
    needed = {i for n in kept for i in n.input if i in static}
    outputs = {o.name for o in graph.output}
    if outputs & static:
        raise OnnxImportError(f"graph outputs {sorted(outputs & static)} do not depend on the inputs")
    initializers = {init.name: init for init in graph.initializer}
    folded_inits = []
    for name in sorted(needed):
        if name in initializers:
            folded_inits.append(initializers[name])
        elif name in values:
            folded_inits.append(numpy_helper.from_array(values[name], name))
        else:
            raise OnnxImportError(f"cannot fold tensor {name!r}: onnxruntime did not compute it on the probe")
    set_nodes(graph, kept)
    del graph.initializer[:]
    graph.initializer.extend(folded_inits)
    del graph.value_info[:]
    shapes = {name: tuple(int(d) for d in np.shape(v)) for name, v in values.items()}
    return Folded(fixed, shapes)
