"""What `opml request --input` sends: a request's input bytes from the command line.

    --input '"hello"'                       the UTF-8 text of a JSON string (other JSON values: compact JSON)
    --input request.bin                     the file's bytes
    --input digit.npy                       an int8 array's bytes (C order): an ML model's input tensor
    --input models/mnist_data.npz:test_x --index 11    one entry of an array in an .npz archive

An ML model's input is its int8 tensor; an array of another dtype (e.g. uint8 pixels) is quantized with the
model's input scale (`quantize`, from the model file), so a raw MNIST digit can be asked as is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

Quantize = Callable[[np.ndarray], np.ndarray]


def parse_input(text: str, index: int | None = None, quantize: Quantize | None = None) -> bytes:
    """The request bytes `text` stands for (module docstring); ValueError naming the problem otherwise."""
    array = _array(text)
    if array is None:
        if index is not None:
            raise ValueError(f"--index needs an array input (.npy, or .npz:KEY); got {text!r}")
        return _bytes_or_json(text)
    if index is not None:
        if array.ndim == 0 or not -len(array) <= index < len(array):
            raise ValueError(f"--index {index} is outside {text} (shape {list(array.shape)})")
        array = array[index]
    if array.dtype == np.int8:
        return np.ascontiguousarray(array).tobytes()
    if quantize is None:
        raise ValueError(f"{text} holds {array.dtype} values, not int8 tensor bytes; only an ML model (its model "
                         f"file gives the input scale) quantizes them")
    return np.ascontiguousarray(quantize(array)).tobytes()


def _array(text: str) -> np.ndarray | None:
    """The array `text` names (`PATH.npy` or `PATH.npz:KEY`), or None when it names none."""
    if text.endswith(".npy") and Path(text).is_file():
        return np.load(text, allow_pickle=False)
    path, sep, key = text.rpartition(":")
    if not sep or not path.endswith(".npz"):
        return None
    if not Path(path).is_file():
        raise ValueError(f"--input {path} does not exist")
    with np.load(path, allow_pickle=False) as archive:
        if key not in archive:
            raise ValueError(f"--input {path} has no array {key!r} (it has {', '.join(archive.files)})")
        return archive[key]


def _bytes_or_json(text: str) -> bytes:
    path = Path(text)
    if path.is_file():
        return path.read_bytes()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"--input {text!r} is neither a file nor JSON") from None
    return value.encode() if isinstance(value, str) else json.dumps(value, separators=(",", ":")).encode()
