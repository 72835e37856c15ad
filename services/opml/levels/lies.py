"""A lying party's request level, built around the honest `RequestLevel` from outside: the fault set says where
it computes on a forged input (ForgeInput), which tensors it believes wrong and how it forges the levels below
(WrongOutput, ForgeGraphLink, ForgeTileLink: carried by its graph level) and whether it submits an output that is
not its own trace's (ForgeOutput). The honest path never passes through here or through `faults`.

    party = request_party(commitment, input_value, faults)     # honest when `faults` is empty
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .commitments import ModelCommitment
from .faults import Fault, ForgeOutput, believed_input, believed_values, corrupt_element
from .graph_level import GraphLevel
from .request_level import RequestLevel


class LyingRequestLevel(RequestLevel):
    """The request level of a party lying as `faults` say."""

    def __init__(self, commitment: ModelCommitment, input_value: np.ndarray, faults: Iterable[Fault]) -> None:
        self.faults = frozenset(faults)
        super().__init__(commitment, input_value)

    def _compute(self, input_value: np.ndarray) -> tuple[np.ndarray, GraphLevel]:
        believed = believed_input(input_value, self.faults)
        values = believed_values(self.commitment.model, believed, self.faults)
        return believed, GraphLevel(self.commitment, values, self.faults)

    @property
    def output(self) -> np.ndarray:
        out = super().output
        return corrupt_element(out, 0, 1) if ForgeOutput() in self.faults else out


def request_party(commitment: ModelCommitment, input_value: np.ndarray,
                  faults: Iterable[Fault] = ()) -> RequestLevel:
    """The honest request level without faults, the lying one with them."""
    faults = frozenset(faults)
    return LyingRequestLevel(commitment, input_value, faults) if faults else RequestLevel(commitment, input_value)
