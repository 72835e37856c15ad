"""Faster kernels with the reference's bits, for the native runs of the levels (`opml.ml.executor.run(...,
kernels=FAST_KERNELS)`): the tiling plan's sample run and the tensors of an opened decode step.

FullyConnected by `opml.llm.fast_ops.fully_connected` (int8 rows summed in int32 registers, the reference's bits
for rows shorter than 2^17, tests/differential/test_llm_fast_ops.py); the reference converts the whole weight to
float64 on every call, which for the 1.1 GB of a 1.1B model's weights is most of a decode step's time.
"""

from __future__ import annotations

import numpy as np

from opml.llm import fast_ops
from opml.ml.ops import OPS, OpType


def fully_connected(ins: list[np.ndarray], attrs: object) -> np.ndarray:
    x, w, b = ins
    if fast_ops.linear_exact(x.shape[-1]):
        return fast_ops.fully_connected(x, w, b)
    return OPS[OpType.FULLY_CONNECTED].reference(ins, attrs)


FAST_KERNELS = {OpType.FULLY_CONNECTED: fully_connected}
