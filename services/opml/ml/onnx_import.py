"""ONNX float graph → quantized integer `Model` (post-training quantization with a calibration set).

    read_onnx (checked ONNX) → check_supported (every op known, before any work) → onnx_fold.fold_static (input
    shapes fixed by the first calibration item, shape subgraphs folded) → onnx_patterns.rewrite (LayerNorm,
    attention, mean pooling, GELU/tanh) → calibrate.activation_ranges (float graph on the calibration inputs) →
    onnx_lower.lower (integer graph, ptq.py arithmetic) → validate.

Quantization is symmetric with zero point 0 everywhere (ptq.py): activations one scale per tensor from the
calibrated ranges, weights per output channel, biases int32 at S_in·S_w, requantization M = S_in·S_w/S_out.

The model takes one int8 input (batch 1) and returns one int8 (or ArgMax int32) output. The scales needed to
quantize inputs and read outputs come with the model (`scales.QuantizedModel`, saved next to the model file).
An encoder (integer token inputs: input_ids, attention_mask, …) takes one int32 input `tokens` [k, S] whose
row i is the graph's i-th input (`encoder_input.pack_tokens`); S is the calibration arrays' sequence length.

Import is deterministic: calibrated magnitudes are rounded up to ptq.RANGE_BITS significant bits, so float noise
between machines (onnxruntime kernels differ by CPU) does not change the integer model.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import structlog

from .calibrate import Inputs, Method, activation_ranges, probe_feeds
from .onnx_fold import fold_static
from .onnx_graph import OnnxImportError, UnsupportedOpError
from .onnx_lower import LOWERINGS, check_supported, lower
from .onnx_patterns import rewrite
from .ptq import quantize_weights, round_range
from .scales import QuantizedModel

__all__ = [
    "LOWERINGS", "OnnxImportError", "QuantizedModel", "UnsupportedOpError", "check_supported", "import_onnx",
    "quantize_onnx", "quantize_weights", "read_onnx", "round_range",
]

log = structlog.get_logger(__name__)


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


def quantize_onnx(
    onnx_model: onnx.ModelProto, calibration: Inputs, *, name: str = "model", method: Method = "maxabs",
    percentile: float = 99.99,
) -> QuantizedModel:
    """Quantize a float ONNX model with activation ranges measured on `calibration` (float inputs, batch first;
    for an encoder a mapping from each input name to its [N, S] token array)."""
    check_supported(onnx_model)
    folded = fold_static(onnx_model, probe_feeds(onnx_model, calibration))
    patterns = rewrite(folded.model, folded.shapes)
    check_supported(folded.model, prepared=True)
    ranges = activation_ranges(onnx_model, calibration, method, percentile)
    quantized = lower(folded.model, ranges, name, folded.shapes)
    log.info("onnx_imported", model=name, nodes=len(quantized.model.nodes), tensors=len(quantized.model.tensors),
             method=method, **patterns)
    return quantized


def import_onnx(path: str | Path, calibration: Inputs, **options) -> QuantizedModel:
    """`read_onnx` + `quantize_onnx`; the model is named after the file."""
    options.setdefault("name", Path(path).stem)
    return quantize_onnx(read_onnx(path), calibration, **options)
