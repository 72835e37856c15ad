"""The in-memory model: an integer graph of tensors (slots) and nodes in topological order, plus constants.

`validate(model)` checks everything the executors rely on and raises ModelError naming the node or tensor at
fault. Serialization to one file lives in modelfile.py (`modelfile.save` / `modelfile.load`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import attrs as A
from .errors import ModelError, OpError
from .ops import OPS, OpType, infer, op_type, parse_attrs
from .reference import check_exp2_table, check_softmax_table
from .tensor import DTYPES, MAX_RANK, MAX_TENSOR_BYTES, TensorType

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    """One tensor slot. Constant tensors carry data in `Model.constants`; the others are inputs or node outputs."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    constant: bool = False

    @property
    def type(self) -> TensorType:
        return TensorType(self.dtype, tuple(self.shape))


@dataclass(frozen=True)
class Node:
    """output = op(*inputs) with attributes `attrs` (the op's attribute model)."""

    op: OpType
    inputs: tuple[int, ...]
    output: int
    attrs: A.Attrs = field(default_factory=A.NoAttrs)

    @classmethod
    def make(cls, op: OpType | str, inputs: Sequence[int], output: int, attrs: dict | A.Attrs | None = None) -> "Node":
        """Build a node from plain values, validating the attributes against the op (OpError if invalid)."""
        kind = op_type(op)
        return cls(kind, tuple(int(i) for i in inputs), int(output), parse_attrs(kind, attrs))


@dataclass
class Model:
    name: str
    tensors: list[TensorSpec]
    inputs: list[int]
    outputs: list[int]
    nodes: list[Node]
    constants: dict[int, np.ndarray]
    format_version: int = FORMAT_VERSION

    def tensor_type(self, slot: int) -> TensorType:
        return self.tensors[slot].type

    def describe(self, slot: int) -> str:
        """'name' (slot n), for error messages."""
        return f"tensor {self.tensors[slot].name!r} (slot {slot})" if 0 <= slot < len(self.tensors) else f"slot {slot}"

    def validate(self) -> "Model":
        validate(self)
        return self


def _fail(message: str) -> None:
    raise ModelError(message)


def _check_tensor(model: Model, slot: int, spec: TensorSpec) -> None:
    where = model.describe(slot)
    if not spec.name:
        _fail(f"slot {slot}: tensor name is empty")
    if spec.dtype not in DTYPES:
        _fail(f"{where}: dtype {spec.dtype!r} is not int8 or int32")
    if len(spec.shape) > MAX_RANK or any(not isinstance(d, int) or d < 1 for d in spec.shape):
        _fail(f"{where}: shape {list(spec.shape)} must have rank <= {MAX_RANK} and dimensions >= 1")
    if spec.type.nbytes > MAX_TENSOR_BYTES:
        _fail(f"{where}: {spec.type.nbytes} bytes exceed the VM region size {MAX_TENSOR_BYTES}")


def _check_tensors(model: Model) -> None:
    names: set[str] = set()
    for slot, spec in enumerate(model.tensors):
        _check_tensor(model, slot, spec)
        if spec.name in names:
            _fail(f"tensor name {spec.name!r} is used twice (slot {slot})")
        names.add(spec.name)


def _check_slots(model: Model, slots: Sequence[int], what: str) -> None:
    if not slots:
        _fail(f"model has no {what}")
    if len(set(slots)) != len(slots):
        _fail(f"model {what} {list(slots)} repeat a slot")
    for slot in slots:
        if not 0 <= slot < len(model.tensors):
            _fail(f"model {what}: slot {slot} does not exist ({len(model.tensors)} tensors)")


def _check_constants(model: Model) -> None:
    declared = {slot for slot, spec in enumerate(model.tensors) if spec.constant}
    if set(model.constants) != declared:
        missing, extra = sorted(declared - set(model.constants)), sorted(set(model.constants) - declared)
        _fail(f"constant data does not match constant tensors: missing {missing}, not constant {extra}")
    for slot in declared:
        data, spec = model.constants[slot], model.tensors[slot]
        if data.dtype != DTYPES[spec.dtype] or tuple(data.shape) != tuple(spec.shape):
            _fail(f"{model.describe(slot)}: constant data {data.dtype}{list(data.shape)} does not match {spec.type}")
    for slot in model.inputs:
        if model.tensors[slot].constant:
            _fail(f"model input {model.describe(slot)} is a constant")


_TABLES = {OpType.SOFTMAX: (1, check_softmax_table), OpType.ATTENTION: (5, check_exp2_table),
           OpType.SAMPLE: (3, check_exp2_table)}  # input, check


def _check_table(model: Model, op: OpType, slot: int) -> None:
    if slot not in model.constants:
        raise OpError(f"the {op.value} table {model.describe(slot)} must be a constant")
    _TABLES[op][1](model.constants[slot])


def _check_node(model: Model, index: int, node: Node, available: set[int]) -> None:
    where = f"node {index} ({node.op.value})"
    for slot in (*node.inputs, node.output):
        if not 0 <= slot < len(model.tensors):
            _fail(f"{where}: slot {slot} does not exist ({len(model.tensors)} tensors)")
    for slot in node.inputs:
        if slot not in available:
            _fail(f"{where} reads {model.describe(slot)} before it is produced (nodes must be in topological order)")
    if node.output in available or model.tensors[node.output].constant:
        _fail(f"{where} writes {model.describe(node.output)}, which is an input, a constant or already produced")
    if type(node.attrs) is not OPS[node.op].attrs:
        _fail(f"{where}: attributes are {type(node.attrs).__name__}, the op takes {OPS[node.op].attrs.__name__}")
    try:
        inferred = infer(node.op, [model.tensor_type(s) for s in node.inputs], node.attrs)
        if node.op in _TABLES:
            _check_table(model, node.op, node.inputs[_TABLES[node.op][0]])
    except OpError as exc:
        raise ModelError(f"{where}: {exc}") from None
    declared = model.tensor_type(node.output)
    if inferred != declared:
        _fail(f"{where}: output {model.describe(node.output)} is declared {declared} but the op produces {inferred}")


def validate(model: Model) -> None:
    """Raise ModelError unless the model is consistent (see docs/ops.md §Model format)."""
    if model.format_version != FORMAT_VERSION:
        _fail(f"unsupported model format version {model.format_version} (this runtime reads {FORMAT_VERSION})")
    _check_tensors(model)
    _check_slots(model, model.inputs, "inputs")
    _check_slots(model, model.outputs, "outputs")
    _check_constants(model)
    available = set(model.inputs) | set(model.constants)
    for index, node in enumerate(model.nodes):
        _check_node(model, index, node, available)
        available.add(node.output)
    for slot in range(len(model.tensors)):
        if slot not in available:
            _fail(f"{model.describe(slot)} is neither an input, a constant nor a node output")
