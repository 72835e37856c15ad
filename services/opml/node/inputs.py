"""What `opml request --input` sends: a request's input bytes from the command line.

    --input '"hello"'                       the UTF-8 text of a JSON string (other JSON values: compact JSON)
    --input request.bin                     the file's bytes
    --input digit.npy                       an int8 array's bytes (C order): an ML model's input tensor
    --input models/mnist_data.npz:test_x --index 11    one entry of an array in an .npz archive

An ML model's input is its int8 tensor; an array of another dtype (e.g. uint8 pixels) is quantized with the
model's input scale (`quantize`, from the model file), so a raw MNIST digit can be asked as is. Given the model's
input (`ModelInput`), every input is checked against it before anything is sent: an array must hold finite numbers
of the model's input size, and whatever the form, the bytes must be exactly the model's int8 input tensor (a
request the chain would accept but no node could answer is refused here, fee unpaid).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Quantize = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelInput:
    """An ML model's input: its int8 tensor's `shape`, and `quantize` (other dtypes → that tensor)."""

    model_id: int
    shape: tuple[int, ...]
    quantize: Quantize

    @property
    def size(self) -> int:
        """Values, and bytes (int8), of the input tensor."""
        return math.prod(self.shape)

    def describe(self) -> str:
        return f"model {self.model_id} takes an int8 tensor of shape {list(self.shape)} ({self.size} bytes)"


def parse_input(text: str, index: int | None = None, quantize: ModelInput | Quantize | None = None) -> bytes:
    """The request bytes `text` stands for (module docstring); ValueError naming the problem otherwise. Given a
    `ModelInput`, the input is checked against it; given a bare `Quantize`, it only quantizes."""
    spec = quantize if isinstance(quantize, ModelInput) else None
    quantize = quantize.quantize if isinstance(quantize, ModelInput) else quantize
    array = _array(text)
    if array is None:
        if index is not None:
            raise ValueError(f"--index needs an array input (.npy, or .npz:KEY); got {text!r}")
        data = _bytes_or_json(text)
        if spec is not None and len(data) != spec.size:
            raise ValueError(f"--input {_short(text)} is {len(data)} bytes, but {spec.describe()}; pass an array "
                             f"(PATH.npy, or PATH.npz:KEY with --index)")
        return data
    if index is not None:
        if array.ndim == 0 or not -len(array) <= index < len(array):
            raise ValueError(f"--index {index} is outside {text} (shape {list(array.shape)})")
        array = array[index]
    if spec is not None:
        check_array(array, spec, text)
    if array.dtype == np.int8:
        return np.ascontiguousarray(array).tobytes()
    if quantize is None:
        raise ValueError(f"{text} holds {array.dtype} values, not int8 tensor bytes; only an ML model (its model "
                         f"file gives the input scale) quantizes them")
    return np.ascontiguousarray(quantize(array)).tobytes()


def check_array(array: np.ndarray, spec: ModelInput, name: str) -> None:
    """ValueError unless `array` holds finite numbers, as many as the model's input has."""
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):
        raise ValueError(f"{name} holds {array.dtype} values, not numbers; {spec.describe()}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite values; {spec.describe()}")
    if array.size != spec.size:
        raise ValueError(f"{name} has shape {list(array.shape)} ({array.size} values), but {spec.describe()}")


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _array(text: str) -> np.ndarray | None:
    """The array `text` names (`PATH.npy` or `PATH.npz:KEY`), or None when it names none."""
    if text.endswith(".npy") and _is_file(text):
        return np.load(text, allow_pickle=False)
    path, sep, key = text.rpartition(":")
    if not sep or not path.endswith(".npz"):
        return None
    if not _is_file(path):
        raise ValueError(f"--input {_short(path)} does not exist")
    with np.load(path, allow_pickle=False) as archive:
        if key not in archive:
            raise ValueError(f"--input {path} has no array {key!r} (it has {', '.join(archive.files)})")
        return archive[key]


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long (a megabyte of JSON) or with a NUL is no file
        return False


def _bytes_or_json(text: str) -> bytes:
    if _is_file(text):
        return Path(text).read_bytes()
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"--input {_short(text)} is neither a file nor JSON") from None
    return value.encode() if isinstance(value, str) else json.dumps(value, separators=(",", ":")).encode()
