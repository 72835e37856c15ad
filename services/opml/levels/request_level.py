"""The request level: one transition from the request's anchor (S_0) to the output commitment (S_1), opened
into the graph level (proof: RequestGraphProof). `submission()` is what a submitter posts for it.

`RequestLevel` is the honest party: the request's input and every tensor as the native executor computes them. A
lying party is built around it from outside (`opml.levels.lies`).
"""

from __future__ import annotations

import numpy as np

from opml.game.trace import RequestTopLevel, check_root_index, check_transition
from opml.ml import executor
from opml.ml.errors import InputError
from opml.ml.tensor import DTYPES

from .commitments import ModelCommitment, tensor_commitment
from .graph_level import GraphLevel
from .links import RequestGraphProof


class RequestLevel(RequestTopLevel):
    """One party's view of a request on a committed model (honest; `opml.levels.lies` builds the liars)."""

    def __init__(self, commitment: ModelCommitment, input_value: np.ndarray) -> None:
        self.commitment = commitment
        self.input_value = _checked_input(commitment, input_value)  # the request's input
        computed_on, self.graph = self._compute(self.input_value)
        self.input_commitment = tensor_commitment(computed_on)

    def _compute(self, input_value: np.ndarray) -> tuple[np.ndarray, GraphLevel]:
        """(the input this party computes on, its graph level): the request's input and every tensor as the
        native executor computes them."""
        values = executor.run(self.commitment.model, [input_value]).values
        return input_value, GraphLevel(self.commitment, values)

    @property
    def input_bytes(self) -> bytes:
        """The request's input bytes (what `Coordinator.request` carries)."""
        return self.input_value.tobytes()

    @property
    def output(self) -> np.ndarray:
        """The output tensor this party would submit."""
        return self.graph.values[self.commitment.output_slot]

    def submission(self) -> tuple[bytes, bytes]:
        """(output bytes, traceCommitment): the arguments of `Coordinator.submit`."""
        return self.output.tobytes(), self.graph.root_at(self.graph.length)

    def root_at(self, i: int) -> bytes:
        check_root_index(1, i)
        return self.commitment.anchor(self.input_commitment) if i == 0 else tensor_commitment(self.output)

    @property
    def level_below(self) -> GraphLevel:
        return self.graph

    def link_proof(self, k: int) -> RequestGraphProof:
        """The proof that opens the graph level (only transition 0 exists)."""
        check_transition(1, k)
        c = self.commitment
        end = self.graph.commitments_at(self.graph.length)
        start = self.graph.commitments_at(0)
        return RequestGraphProof(
            c.nodes_root, len(c.nodes), c.slot_depth, c.input_slot, c.output_slot, c.constants_root, c.kernels_root,
            self.input_commitment, tuple(c.slot_proof(start, c.input_slot)), tuple(c.slot_proof(end, c.output_slot)))


def input_from_bytes(commitment: ModelCommitment, data: bytes) -> np.ndarray:
    """The model input tensor a request's bytes encode (C order, little-endian); InputError on a size mismatch."""
    spec = commitment.model.tensors[commitment.input_slot]
    if len(data) != spec.type.nbytes:
        raise InputError(f"request input is {len(data)} bytes, the model input {spec.type} takes {spec.type.nbytes}")
    return np.frombuffer(bytes(data), dtype=DTYPES[spec.dtype]).reshape(spec.shape).copy()


def _checked_input(commitment: ModelCommitment, value: np.ndarray) -> np.ndarray:
    """The request input as a C-order array; InputError unless it has the model input's dtype and shape (a request
    whose bytes do not form that tensor cannot be answered: its commitment is not of any valid input)."""
    spec = commitment.model.tensors[commitment.input_slot]
    if value.dtype != DTYPES[spec.dtype] or tuple(value.shape) != tuple(spec.shape):
        raise InputError(f"input must be {spec.type}, got {value.dtype}{list(value.shape)}")
    return np.ascontiguousarray(value)
