"""Tensor types: a dtype (int8 or int32) and a shape. Limits every implementation relies on live here."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np

DType = Literal["int8", "int32"]
DTYPES: dict[str, np.dtype] = {"int8": np.dtype("<i1"), "int32": np.dtype("<i4")}
MAX_RANK = 8
MAX_TENSOR_BYTES = 1 << 28  # one VM input/output region (opml.vm.layout)


class TensorType(NamedTuple):
    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * DTYPES[self.dtype].itemsize

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


def type_of(array: np.ndarray) -> TensorType:
    """The TensorType of a numpy array (its dtype must be int8 or int32)."""
    for name, dtype in DTYPES.items():
        if array.dtype == dtype:
            return TensorType(name, tuple(int(d) for d in array.shape))
    raise TypeError(f"unsupported dtype {array.dtype}; tensors are int8 or int32")
