"""BERT-family encoders imported from ONNX (tests/data/encoders, docs/encoders.md): integer vs float agreement,
import time, native latency and one whole inference in the VM.

Agreement is measured on 256 fresh padded sequences (3–16 tokens) against onnxruntime on the float graph:
cosine similarity of the pooled embeddings (mean pooling of `bert_mean_erf`; the [CLS] pooler's tanh output of
`bert_cls_tanh`, the graph cut before its classifier) — the minimum and the mean, with maxabs and (`_percentile`)
99.99th-percentile calibration —, and how often the integer classifier of `bert_cls_tanh` (maxabs) picks the
float one's class. Calibration: 64 other sequences. Latency: median of
single-sequence runs of the numpy reference executor. VM: `bert_cls_tanh`, every node in the fast VM executor
after a warm-up run.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import onnx
from onnx import helper

from opml.paths import REPO_ROOT
from opml.ml import executor
from opml.ml.calibrate import run_float
from opml.ml.cli import info_logs
from opml.ml.encoder_input import pack_tokens
from opml.ml.onnx_import import quantize_onnx, read_onnx
from opml.ml.vmrun import run_model

from .timing import median_s

SEQUENCES = 256
CALIBRATION = 64


def _encoder_models():
    spec = importlib.util.spec_from_file_location("encoder_models", REPO_ROOT / "tests" / "encoder_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(model: onnx.ModelProto, batch: dict) -> dict:
    names = [i.name for i in model.graph.input]
    return {k: v for k, v in batch.items() if k in names}


def _cut(model: onnx.ModelProto, tensor: str) -> onnx.ModelProto:
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    del cut.graph.output[:]
    cut.graph.output.append(helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    keep = [n for n in cut.graph.node if n.output[0] != model.graph.output[0].name]
    del cut.graph.node[:]
    cut.graph.node.extend(keep)
    return cut


def _int_outputs(quantized, batch: dict) -> np.ndarray:
    count = len(next(iter(batch.values())))
    return np.stack([quantized.dequantize_output(executor.run(quantized.model, pack_tokens(
        quantized.model, {k: v[i] for k, v in batch.items()})).result[0]).reshape(-1) for i in range(count)])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b.reshape(a.shape)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def run() -> dict[str, float | int]:
    with info_logs():
        return _figures()


def _figures() -> dict[str, float | int]:
    E = _encoder_models()
    rng = np.random.default_rng(99)
    calibration, test = E.token_batch(rng, CALIBRATION), E.token_batch(rng, SEQUENCES)
    figures: dict[str, float | int] = {}

    mean = read_onnx(E.ENCODERS["bert_mean_erf"])
    cls = read_onnx(E.ENCODERS["bert_cls_tanh"])
    pooler = _cut(cls, "/Tanh_output_0")
    for method, suffix in (("maxabs", ""), ("percentile", "_percentile")):
        for name, model in (("mean", mean), ("cls_pooler", pooler)):
            started = time.perf_counter()
            quantized = quantize_onnx(model, _inputs(model, calibration), method=method)
            if name == "mean" and not suffix:
                figures["encoder_import_s"] = round(time.perf_counter() - started, 3)
                one = pack_tokens(quantized.model, {k: v[0] for k, v in _inputs(mean, test).items()})
                figures["encoder_int8_reference_ms"] = round(
                    median_s(lambda q=quantized, x=one: executor.run(q.model, x), 50) * 1e3, 3)
            cos = _cosines(_int_outputs(quantized, _inputs(model, test)), run_float(model, _inputs(model, test)))
            figures[f"encoder_{name}_cosine_min{suffix}"] = round(float(cos.min()), 5)
            figures[f"encoder_{name}_cosine_mean{suffix}"] = round(float(cos.mean()), 5)

    classifier = quantize_onnx(cls, _inputs(cls, calibration))
    got = _int_outputs(classifier, _inputs(cls, test))
    figures["encoder_classifier_agreement"] = float((got.argmax(1) == run_float(cls, _inputs(cls, test)).argmax(1))
                                                    .mean())

    x = pack_tokens(classifier.model, {k: v[0] for k, v in _inputs(cls, test).items()})
    native = executor.run(classifier.model, x)
    run_model(classifier.model, x)  # warm-up: numba compilation / cache load
    started = time.perf_counter()
    steps, output = run_model(classifier.model, x)
    figures["encoder_vm_fast_s"] = round(time.perf_counter() - started, 3)
    figures["encoder_vm_steps"] = steps
    if not np.array_equal(output, native.result[0]):
        raise AssertionError("bert_cls_tanh: the VM inference differs from the native one")
    return figures
