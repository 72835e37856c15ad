"""The closed op set: one enum, one table from op to (attributes, arity, shape inference, numpy reference, kernel).

Adding an op touches: this table, attrs.py, shapes.py, reference.py, kernels/src/<kernel>.c, vmparams.py and
docs/ops.md. An op's id is its position in `OpType` (`opml.levels.commitments.OP_IDS`: the leaf of its kernel in
the kernel set root, the `opId` of node leaves and of `ModelRegistry.registerKernel`), so a new op goes at the end
of the enum: reordering it changes every committed model's roots. The kernel set holds 2^KERNEL_SET_DEPTH ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from pydantic import ValidationError

from . import attrs as A
from . import reference as R
from . import shapes as S
from .errors import OpError
from .tensor import TensorType, type_of


class OpType(str, Enum):
    """The closed op set. An op's id (its kernel's leaf in kernelSetRoot) is its position here: append only."""

    FULLY_CONNECTED = "FullyConnected"
    CONV2D = "Conv2D"
    RELU = "ReLU"
    MAX_POOL = "MaxPool"
    AVG_POOL = "AvgPool"
    GLOBAL_AVG_POOL = "GlobalAvgPool"
    ADD = "Add"
    RESHAPE = "Reshape"
    REQUANTIZE = "Requantize"
    SOFTMAX = "Softmax"
    ARGMAX = "ArgMax"
    GATHER = "Gather"
    RMS_NORM = "RMSNorm"
    LAYER_NORM = "LayerNorm"
    MATMUL = "MatMul"
    ATTENTION = "Attention"
    ROPE = "RoPE"
    LUT = "Lut"
    MUL = "Mul"
    CACHE_WRITE = "CacheWrite"
    SAMPLE = "Sample"


@dataclass(frozen=True)
class OpDef:
    """What the runtime knows about one op. `kernel` names kernels/src/<kernel>.c and kernels/build/<kernel>.elf."""

    attrs: type[A.Attrs]
    arity: int
    infer: Callable[[Sequence[TensorType], Any], TensorType]
    reference: Callable[[list[np.ndarray], Any], np.ndarray]
    kernel: str


OPS: dict[OpType, OpDef] = {
    OpType.FULLY_CONNECTED: OpDef(A.NoAttrs, 3, S.fully_connected, R.fully_connected, "fully_connected"),
    OpType.CONV2D: OpDef(A.Conv2DAttrs, 3, S.conv2d, R.conv2d, "conv2d"),
    OpType.RELU: OpDef(A.NoAttrs, 1, S.relu, R.relu, "relu"),
    OpType.MAX_POOL: OpDef(A.PoolAttrs, 1, S.pool, R.max_pool, "max_pool"),
    OpType.AVG_POOL: OpDef(A.AvgPoolAttrs, 1, S.pool, R.avg_pool, "avg_pool"),
    OpType.GLOBAL_AVG_POOL: OpDef(A.NoAttrs, 1, S.global_avg_pool, R.global_avg_pool, "global_avg_pool"),
    OpType.ADD: OpDef(A.AddAttrs, 2, S.add, R.add, "add"),
    OpType.RESHAPE: OpDef(A.ReshapeAttrs, 1, S.reshape, R.reshape, "reshape"),
    OpType.REQUANTIZE: OpDef(A.RequantizeAttrs, 1, S.requantize, R.requantize, "requantize"),
    OpType.SOFTMAX: OpDef(A.NoAttrs, 2, S.softmax, R.softmax, "softmax"),
    OpType.ARGMAX: OpDef(A.ArgMaxAttrs, 1, S.argmax, R.argmax, "argmax"),
    OpType.GATHER: OpDef(A.NoAttrs, 2, S.gather, R.gather, "gather"),
    OpType.RMS_NORM: OpDef(A.NormAttrs, 2, S.rms_norm, R.rms_norm, "rms_norm"),
    OpType.LAYER_NORM: OpDef(A.NormAttrs, 3, S.layer_norm, R.layer_norm, "layer_norm"),
    OpType.MATMUL: OpDef(A.MatMulAttrs, 2, S.matmul, R.matmul, "matmul"),
    OpType.ATTENTION: OpDef(A.AttentionAttrs, 6, S.attention, R.attention, "attention"),
    OpType.ROPE: OpDef(A.RoPEAttrs, 3, S.rope, R.rope, "rope"),
    OpType.LUT: OpDef(A.NoAttrs, 2, S.lut, R.lut, "lut"),
    OpType.MUL: OpDef(A.MulAttrs, 2, S.mul, R.mul, "mul"),
    OpType.CACHE_WRITE: OpDef(A.NoAttrs, 3, S.cache_write, R.cache_write, "cache_write"),
    OpType.SAMPLE: OpDef(A.SampleAttrs, 4, S.sample, R.sample, "sample"),
}


def op_type(name: str | OpType) -> OpType:
    """The OpType named `name` (its value, e.g. "Conv2D"); OpError for anything outside the closed set."""
    try:
        return OpType(name)
    except ValueError:
        raise OpError(f"unknown op {name!r}; known ops: {', '.join(o.value for o in OpType)}") from None


def parse_attrs(op: OpType, raw: dict[str, Any] | A.Attrs | None) -> A.Attrs:
    """Validate raw attributes (a dict, e.g. from JSON) into the op's attribute model; OpError on any problem."""
    model = OPS[op].attrs
    if type(raw) is model:
        return raw
    if isinstance(raw, A.Attrs):  # another op's attributes: revalidate them as this op's (rejects strangers)
        raw = raw.model_dump()
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise OpError(f"{op.value}: invalid attributes: {exc}") from None


def infer(op: OpType, inputs: Sequence[TensorType], attrs: A.Attrs) -> TensorType:
    """The output type of `op` on inputs of these types; OpError if the op does not accept them."""
    if len(inputs) != OPS[op].arity:
        raise OpError(f"{op.value} takes {OPS[op].arity} inputs, got {len(inputs)}")
    return OPS[op].infer(inputs, attrs)


def evaluate(op: OpType, inputs: Sequence[np.ndarray], attrs: A.Attrs) -> np.ndarray:
    """Run the numpy reference of `op` after checking the input types (OpError on mismatch)."""
    expected = infer(op, [type_of(x) for x in inputs], attrs)
    out = OPS[op].reference([np.ascontiguousarray(x) for x in inputs], attrs)
    assert type_of(out) == expected, f"{op.value} reference produced {type_of(out)}, inferred {expected}"
    return out
