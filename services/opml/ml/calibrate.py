"""Activation ranges for post-training quantization: run the float ONNX graph on calibration inputs.

`activation_ranges(model, inputs)` runs onnxruntime with every intermediate tensor exposed as a graph output and
returns, per float tensor name, the magnitude r that its int8 scale covers (scale = r / 127):

- "maxabs":     r = max |x| over all calibration values;
- "percentile": r = the given percentile of |x| (clips rare outliers; never above max |x|).

The float graph is the reference the quantized model's accuracy is measured against (`run_float`).

Inputs are one batch-first float array for a one-input model, or, for a model with several inputs (an
encoder's input_ids, attention_mask, …), a mapping from each input name to its batch-first array.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal, Union

import numpy as np
import onnx
import onnxruntime as ort

from opml.progress import track

from .errors import MLError

Method = Literal["maxabs", "percentile"]
Inputs = Union[np.ndarray, Mapping[str, np.ndarray]]
_BATCH = 256
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


class CalibrationError(MLError, ValueError):
    """Calibration inputs that do not fit the model, or a float graph onnxruntime cannot run."""


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise CalibrationError(f"onnxruntime cannot load the float model: {exc}") from exc


def _with_all_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose graph outputs include every float node output (shape inference gives the types;
    an output it cannot type is assumed float; Constant nodes are left out)."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    except Exception:  # inference is only a hint here; onnxruntime has the last word
        inferred = []
    types = {info.name: info.type.tensor_type.elem_type for info in inferred}
    present = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if name and name not in present and types.get(name, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT:
                exposed.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
                present.add(name)
    return exposed


def _input_meta(session: ort.InferenceSession) -> tuple[str, list]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise CalibrationError(f"the model has {len(inputs)} inputs; give one array per input name")
    return inputs[0].name, list(inputs[0].shape)


def _batches(images: np.ndarray, shape: list) -> Iterator[np.ndarray]:
    """Calibration inputs reshaped to the model input, in batches (of 1 where the batch axis is fixed)."""
    per_item = [d if isinstance(d, int) else None for d in shape[1:]]
    if any(d is None for d in per_item):
        raise CalibrationError(f"model input shape {shape} has a symbolic non-batch dimension")
    item_size = int(np.prod(per_item, dtype=np.int64))
    if images.ndim < 1 or images.size != len(images) * item_size or len(images) == 0:
        raise CalibrationError(f"calibration array {images.shape} does not hold items of shape {per_item}")
    data = np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), *per_item)
    step = shape[0] if isinstance(shape[0], int) else _BATCH
    for start in range(0, len(data), step):
        yield data[start : start + step]


def _named_batches(session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]) -> Iterator[dict]:
    """Batches of a several-input model's arrays (one per input name, the same number of items each)."""
    metas = session.get_inputs()
    missing = [m.name for m in metas if m.name not in inputs]
    if missing:
        raise CalibrationError(f"no calibration array for the model inputs {missing} (given: {sorted(inputs)})")
    arrays = {}
    for meta in metas:
        array = np.asarray(inputs[meta.name])
        if meta.type not in _ORT_TYPES or array.ndim != len(meta.shape) or len(array) == 0:
            raise CalibrationError(f"calibration array {meta.name!r} {list(array.shape)} does not fit the model "
                                   f"input {meta.type}{list(meta.shape)}")
        arrays[meta.name] = np.ascontiguousarray(array.astype(_ORT_TYPES[meta.type]))
    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1:
        raise CalibrationError(f"calibration arrays hold different numbers of items: "
                               f"{ {k: len(a) for k, a in arrays.items()} }")
    (count,) = counts
    for start in range(0, count, _BATCH):
        yield {name: a[start : start + _BATCH] for name, a in arrays.items()}


def _feed_batches(session: ort.InferenceSession, inputs: Inputs) -> Iterator[dict]:
    if isinstance(inputs, Mapping):
        yield from _named_batches(session, inputs)
        return
    name, shape = _input_meta(session)
    for batch in _batches(np.asarray(inputs), shape):
        yield {name: batch}


def probe_feeds(model: onnx.ModelProto, inputs: Inputs) -> dict[str, np.ndarray]:
    """The first calibration item of every input, with a batch axis of 1 (the shapes an import fixes)."""
    batch = next(_feed_batches(_session(model), inputs))
    return {name: value[:1] for name, value in batch.items()}


def run_float(model: onnx.ModelProto, images: Inputs) -> np.ndarray:
    """The float graph's first output on every item of `images` (concatenated over the batch axis)."""
    session = _session(model)
    return np.concatenate([session.run(None, feeds)[0] for feeds in _feed_batches(session, images)])


def activation_ranges(
    model: onnx.ModelProto, images: Inputs, method: Method = "maxabs", percentile: float = 99.99
) -> dict[str, float]:
    """Per tensor name (float graph inputs and every float node output): the magnitude its int8 scale must
    cover."""
    if method not in ("maxabs", "percentile"):
        raise CalibrationError(f"unknown calibration method {method!r} (maxabs or percentile)")
    session = _session(_with_all_outputs(model))
    floats = [i.name for i in session.get_inputs() if i.type == "tensor(float)"]
    names = [o.name for o in session.get_outputs()]
    magnitudes: dict[str, list[np.ndarray]] = {n: [] for n in [*floats, *names]}
    for feeds in track(list(_feed_batches(session, images)), "calibration batches"):
        for name in floats:
            magnitudes[name].append(np.abs(feeds[name]).ravel())
        for out_name, value in zip(names, session.run(names, feeds)):
            magnitudes[out_name].append(np.abs(np.asarray(value, dtype=np.float64)).ravel())
    ranges = {}
    for tensor, parts in magnitudes.items():
        values = np.concatenate(parts)
        ranges[tensor] = float(values.max() if method == "maxabs" else np.percentile(values, percentile))
    return ranges
