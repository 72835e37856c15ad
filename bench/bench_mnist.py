"""MNIST models: native int8 latency vs onnxruntime fp32, accuracy on the held-out digits, whole inference in the VM.

Latencies are medians over many single-image runs (batch 1) in this process, every node's output computed (the
full trace a submitter commits to). `*_int8_ms` is the fast native executor (`fastnative`, numba kernels, the
same bits as the numpy reference); `*_int8_reference_ms` is the numpy reference executor. onnxruntime runs the
same float model with one intra-op thread (1, 2 or the default thread count time the same here). The VM figure
is one whole CNN inference, node by node, in the fast VM executor, after a warm-up run (numba compilation and
cache loading excluded).
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from opml.ml import executor, fastnative
from opml.ml.accuracy import accuracy, as_float_input, predict_float, predict_int8
from opml.ml.cli import info_logs
from opml.ml.onnx_import import read_onnx
from opml.ml.scales import QuantizedModel
from opml.ml.vmrun import run_model
from opml.paths import REPO_ROOT

from .timing import median_s

MODELS = REPO_ROOT / "models"
LATENCY_RUNS = 300
DIGIT = 1203


def _median_ms(fn, runs: int = LATENCY_RUNS) -> float:
    return median_s(fn, runs, warmup=10) * 1e3


def _ort_session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run() -> dict[str, float | int]:
    with info_logs():
        return _figures()


def _figures() -> dict[str, float | int]:
    with np.load(MODELS / "mnist_data.npz") as data:
        test_x, test_y = data["test_x"], data["test_y"]
    image = as_float_input(test_x[DIGIT])
    figures: dict[str, float | int] = {}
    for name in ("mlp", "cnn"):
        quantized = QuantizedModel.load(MODELS / f"mnist_{name}.opml")
        x = quantized.quantize_input(image)
        plan = fastnative.NativePlan(quantized.model)
        figures[f"mnist_{name}_int8_ms"] = round(_median_ms(lambda: plan.run(x)), 4)
        figures[f"mnist_{name}_int8_reference_ms"] = round(_median_ms(lambda: executor.run(quantized.model, x)), 4)
        figures[f"mnist_{name}_accuracy_fp32"] = accuracy(predict_float(read_onnx(MODELS / f"mnist_{name}.onnx"),
                                                                        test_x), test_y)
        figures[f"mnist_{name}_accuracy_int8"] = accuracy(predict_int8(quantized, test_x), test_y)

    session = _ort_session(MODELS / "mnist_cnn.onnx")
    feed = {session.get_inputs()[0].name: image.reshape(1, 1, 28, 28)}
    figures["mnist_cnn_onnxruntime_fp32_ms"] = round(_median_ms(lambda: session.run(None, feed)), 4)
    figures["mnist_cnn_int8_vs_ort_ratio"] = round(
        figures["mnist_cnn_int8_ms"] / figures["mnist_cnn_onnxruntime_fp32_ms"], 2)

    for name in ("mlp", "cnn"):
        quantized = QuantizedModel.load(MODELS / f"mnist_{name}.opml")
        x = quantized.quantize_input(image)
        run_model(quantized.model, x)  # warm-up: numba compilation / cache load
        started = time.perf_counter()
        steps, output = run_model(quantized.model, x)
        figures[f"mnist_{name}_vm_fast_s"] = round(time.perf_counter() - started, 4)
        figures[f"mnist_{name}_vm_steps"] = steps
        if not np.array_equal(output, executor.run(quantized.model, x).result[0]):
            raise AssertionError(f"mnist_{name}: VM inference differs from the native one")
    return figures
