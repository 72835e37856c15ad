"""The native executor: runs a model's nodes in order with the numpy references and records every tensor.

`run(model, inputs) -> Trace`; `trace.outputs[slot]` is every node's output, `trace.values` every tensor
(inputs and constants included), in the order the graph level of the dispute game commits to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from .errors import InputError
from .model import Model
from .ops import OPS, OpType
from .tensor import DTYPES

log = structlog.get_logger(__name__)


@dataclass
class Trace:
    """Every tensor of one inference. `outputs` holds node outputs only; `values` holds all tensors."""

    model: Model
    values: dict[int, np.ndarray] = field(default_factory=dict)
    outputs: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def result(self) -> list[np.ndarray]:
        """The model's outputs, in the order of `model.outputs`."""
        return [self.values[slot] for slot in self.model.outputs]

    def node_inputs(self, index: int) -> list[np.ndarray]:
        """The input tensors node `index` read."""
        return [self.values[slot] for slot in self.model.nodes[index].inputs]


def _normalize_inputs(model: Model, inputs) -> dict[int, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        by_name = {model.tensors[s].name: s for s in model.inputs}
        unknown = sorted(set(inputs) - set(by_name))
        if unknown:
            raise InputError(f"unknown model inputs {unknown}; the model takes {sorted(by_name)}")
        inputs = [inputs.get(model.tensors[s].name) for s in model.inputs]
    if not isinstance(inputs, Sequence) or len(inputs) != len(model.inputs):
        count = len(inputs) if isinstance(inputs, Sequence) else type(inputs).__name__
        raise InputError(f"model {model.name!r} takes {len(model.inputs)} inputs, got {count}")
    return {slot: _check_input(model, slot, value) for slot, value in zip(model.inputs, inputs)}


def _check_input(model: Model, slot: int, value) -> np.ndarray:
    spec = model.tensors[slot]
    if not isinstance(value, np.ndarray):
        raise InputError(f"input {spec.name!r} must be a numpy array, got {type(value).__name__}")
    if value.dtype != DTYPES[spec.dtype] or tuple(value.shape) != tuple(spec.shape):
        raise InputError(f"input {spec.name!r} must be {spec.type}, got {value.dtype}{list(value.shape)}")
    return np.ascontiguousarray(value)


def run(model: Model, inputs, kernels: Mapping[OpType, Callable] | None = None) -> Trace:
    """Run `model` on `inputs` (one array, a sequence in `model.inputs` order, or a name → array mapping).

    The model is assumed valid (modelfile.load validates); inputs are checked (InputError on count/shape/dtype).
    `kernels` may replace an op's reference by a faster function of the same signature and the same bits.
    """
    trace = Trace(model)
    trace.values.update(_normalize_inputs(model, inputs))
    trace.values.update(model.constants)
    kernels = kernels or {}
    for node in model.nodes:
        out = kernels.get(node.op, OPS[node.op].reference)([trace.values[s] for s in node.inputs], node.attrs)
        trace.values[node.output] = out
        trace.outputs[node.output] = out
    log.debug("model_run", model=model.name, nodes=len(model.nodes))
    return trace
