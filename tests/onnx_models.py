"""Small float ONNX graphs for tests, built with onnx.helper (shared by the importer's unit tests and the
on-chain disputes over an imported model).

    model = onnx_model(nodes, [1, 2, 4, 4], "y", [1, 2], initializers=[("w", w)])
    model, calibration = every_op_model(np.random.default_rng(3))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dims = Sequence[int | str]


def onnx_array(value) -> np.ndarray:  # noqa: ANN001
    """Integer arrays keep their (int64) type; everything else becomes float32."""
    value = np.asarray(value)
    return value.astype(np.int64) if value.dtype.kind in "iu" else value.astype(np.float32)


def onnx_model(nodes: list[onnx.NodeProto], input_shape: Dims, output_name: str, output_shape: Dims,
               initializers: Iterable[tuple[str, object]] = (), opset: int = 13,
               output_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """A checked one-input ("x", float) one-output graph of `nodes` with the named constant initializers."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output_name, output_type, list(output_shape))],
        [numpy_helper.from_array(onnx_array(v), name) for name, v in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    return model


EVERY_OP_INPUT = (1, 3, 6, 6)
EVERY_OP_CLASSES = 5


def every_op_model(rng: np.random.Generator, calibration_items: int = 32) -> tuple[onnx.ModelProto, np.ndarray]:
    """A residual CNN whose imported integer graph uses Add, AvgPool, GlobalAvgPool, Softmax and ArgMax, with
    float weights and a calibration set (items of shape EVERY_OP_INPUT) drawn from `rng`:

        x → Conv 3×3 → (+ x) → Relu → AveragePool 2×2 → GlobalAveragePool → Flatten → Gemm → Softmax → ArgMax
    """
    channels = EVERY_OP_INPUT[1]
    w = rng.normal(0, 0.3, (channels, channels, 3, 3))
    b = rng.normal(0, 0.1, channels)
    w2 = rng.normal(0, 1.0, (EVERY_OP_CLASSES, channels))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["a"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2"], ["l"], transB=1),
        helper.make_node("Softmax", ["l"], ["p"], axis=-1),
        helper.make_node("ArgMax", ["p"], ["y"], axis=1, keepdims=0),
    ]
    model = onnx_model(nodes, EVERY_OP_INPUT, "y", [1], [("w", w), ("b", b), ("w2", w2)],
                       output_type=TensorProto.INT64)
    calibration = rng.normal(0, 1, (calibration_items, *EVERY_OP_INPUT)).astype(np.float32)
    return model, calibration
