"""The real scales of a quantized model's int8 tensors, stored next to its model file.

The integer model (`X.opml`) is all a node needs to compute and dispute an inference; the scales are what a
user needs to turn a float input into the int8 input (q = round(x / S_in)) and read the output (real ≈ S_out·q).
They live in `X.scales.json`, bound to the model file by its keccak256, so a stale scales file is detected:

    {"format": 1, "model": NAME, "model_keccak": "0x…", "scales": {tensor name: scale, …}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hashing import keccak
from . import modelfile
from .errors import MLError
from .model import Model

SCALES_FORMAT = 1
INT8_MAX = 127


class ScalesError(MLError, ValueError):
    """A scales file that is missing, malformed or does not belong to the model file next to it."""


def scales_path(model_path: str | Path) -> Path:
    """`dir/X.opml` → `dir/X.scales.json`."""
    return Path(model_path).with_suffix(".scales.json")


@dataclass
class QuantizedModel:
    """An integer model and the real scale of each of its int8 activation slots (real ≈ scale · q)."""

    model: Model
    scales: dict[int, float]

    @property
    def input_scale(self) -> float:
        return self.scales[self.model.inputs[0]]

    @property
    def output_scale(self) -> float | None:
        """Scale of the output; None for an index output (ArgMax)."""
        return self.scales.get(self.model.outputs[0])

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input → the model's int8 input: round(x / S_in) saturated to [−127, 127], reshaped to its shape."""
        spec = self.model.tensors[self.model.inputs[0]]
        x = np.asarray(x, dtype=np.float64)
        if x.size != spec.type.size:
            raise ScalesError(f"input has {x.size} values, model input {spec.name!r} needs {spec.type}")
        q = np.clip(np.round(x / self.input_scale), -INT8_MAX, INT8_MAX).astype(np.int8)
        return q.reshape(spec.shape)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """The output as reals (an index output is returned as is)."""
        scale = self.output_scale
        return np.asarray(q) if scale is None else np.asarray(q, dtype=np.float64) * scale

    def save(self, path: str | Path) -> None:
        """Write `path` (the model file) and its scales file."""
        path = Path(path)
        modelfile.save(self.model, path)
        names = {self.model.tensors[slot].name: float(s) for slot, s in sorted(self.scales.items())}
        meta = {"format": SCALES_FORMAT, "model": self.model.name,
                "model_keccak": "0x" + keccak(path.read_bytes()).hex(), "scales": names}
        scales_path(path).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")

    @staticmethod
    def load(path: str | Path) -> "QuantizedModel":
        """Read a model file and its scales file (ModelError / ScalesError on any problem)."""
        path = Path(path)
        model = modelfile.load(path)
        return QuantizedModel(model, _read_scales(scales_path(path), model, keccak(path.read_bytes())))


def _read_scales(path: Path, model: Model, digest: bytes) -> dict[int, float]:
    try:
        meta = json.loads(path.read_text())
    except OSError as exc:
        raise ScalesError(f"cannot read the scales file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ScalesError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != SCALES_FORMAT or not isinstance(meta.get("scales"), dict):
        raise ScalesError(f"{path}: not a format-{SCALES_FORMAT} scales file")
    if meta.get("model_keccak") != "0x" + digest.hex():
        raise ScalesError(f"{path} belongs to another model file (keccak mismatch); re-import the model")
    slots = {spec.name: slot for slot, spec in enumerate(model.tensors)}
    scales = {}
    for name, scale in meta["scales"].items():
        if name not in slots or not isinstance(scale, (int, float)) or not scale > 0:
            raise ScalesError(f"{path}: bad entry {name!r}: {scale!r}")
        scales[slots[name]] = float(scale)
    if model.inputs[0] not in scales:
        raise ScalesError(f"{path}: no scale for the model input")
    return scales
