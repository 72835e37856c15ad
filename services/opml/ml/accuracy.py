"""Classification accuracy of a float ONNX model (onnxruntime) and of its quantized integer model (native).

Inputs follow one convention everywhere (CLI, tests, benchmarks): uint8 arrays are pixels and become
pixel / 255; float arrays are used as they are.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx

from opml.progress import track

from . import executor, fastnative
from .calibrate import run_float
from .scales import QuantizedModel


def as_float_input(x: np.ndarray) -> np.ndarray:
    """uint8 pixels → float32 in [0, 1]; any other numeric array → float32 as is."""
    x = np.asarray(x)
    return (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)


def predict_int8(quantized: QuantizedModel, images: np.ndarray, *, fast: bool = True) -> np.ndarray:
    """Class index (argmax of the output, first index on ties) of every image, run one by one natively:
    with the fast native executor (the same bits) or, fast=False, the numpy reference executor."""
    run = fastnative.NativePlan(quantized.model).run if fast else partial(executor.run, quantized.model)
    floats = as_float_input(images)
    return np.array([int(np.argmax(run(quantized.quantize_input(x)).result[0]))
                     for x in track(floats, f"int8 inference on {len(floats)} images")])


def predict_float(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    """Class index of every image under the float graph (onnxruntime)."""
    return run_float(model, as_float_input(images)).reshape(len(images), -1).argmax(axis=1)


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape or labels.size == 0:
        raise ValueError(f"{predicted.shape} predictions for {labels.shape} labels")
    return float((predicted == labels).mean())
