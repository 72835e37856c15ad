"""A lying party's levels, each built around the honest level from outside and overriding only what its lie
changes; the honest levels (`request_level`, `graph_level`, `tile_level`, `vm_level`) never pass through here or
through `faults`.

  LyingRequestLevel   computes on a forged input (ForgeInput) and on the values it believes (every WrongOutput
      applied where its node runs, later nodes computing on from it); submits an output that is not its own
      trace's (ForgeOutput). Its graph level is a LyingGraphLevel around the honest graph level of those values.
  LyingGraphLevel     node k's output commitment is forged from S_{k+1} on (ForgeGraphLink(k)); node tile levels
      with a lie below them are LyingTileLevels.
  LyingTileLevel      tile states after tile t are forged (ForgeTileLink(node, t)); the VM level of the tile
      holding a wrong element is a `vm_level.LyingVmLevel` carrying it from state `vm_step` on (WrongOutput).

    liar = LyingRequestLevel(commitment, input_value, faults)     # the honest one: RequestLevel(commitment, input_value)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from opml.vm import layout

from .commitments import ModelCommitment
from .faults import Fault, FaultError, ForgeGraphLink, ForgeOutput, ForgeTileLink, WrongOutput, believed_input, \
    believed_values, corrupt_element, forged, wrong_outputs
from .graph_level import GraphLevel
from .request_level import RequestLevel
from .tile_level import TileLevel
from .vm_level import LyingVmLevel, VmLevel, VmLie


class LyingRequestLevel(RequestLevel):
    """The request level of a party lying as `faults` say."""

    def __init__(self, commitment: ModelCommitment, input_value: np.ndarray, faults: Iterable[Fault]) -> None:
        self.faults = frozenset(faults)
        super().__init__(commitment, input_value)

    def _compute(self, input_value: np.ndarray) -> tuple[np.ndarray, GraphLevel]:
        believed = believed_input(input_value, self.faults)
        values = believed_values(self.commitment.model, believed, self.faults)
        return believed, LyingGraphLevel(GraphLevel(self.commitment, values), self.faults)

    @property
    def output(self) -> np.ndarray:
        out = super().output
        return corrupt_element(out, 0, 1) if ForgeOutput() in self.faults else out


class LyingGraphLevel(GraphLevel):
    """`honest` (the graph level of the values the party believes) with the graph and tile lies of `faults` laid
    over it: node outputs whose commitments are forged, and the tile levels of nodes that lie below."""

    def __init__(self, honest: GraphLevel, faults: Iterable[Fault]) -> None:
        super().__init__(honest.commitment, honest.values)
        self.honest = honest
        self.faults = frozenset(faults)

    def output_commitment(self, k: int) -> bytes:
        own = super().output_commitment(k)
        return forged(own) if ForgeGraphLink(k) in self.faults else own

    def _make_tile_level(self, k: int) -> TileLevel:
        honest = self.honest.tile_level(k)
        wrong = wrong_outputs(self.faults).get(k)
        forged_tiles = [f.tile for f in self.faults if isinstance(f, ForgeTileLink) and f.node == k]
        if wrong is None and not forged_tiles:
            return honest
        return LyingTileLevel(honest, wrong, min(forged_tiles, default=None))


class LyingTileLevel(TileLevel):
    """`honest` (the tile level of the output the party believes) with its tile lies laid over it: the roots after
    tile `forged_after` are forged (None: none are), and the VM level of the tile holding `wrong.element` carries
    that element's believed value in OUTPUT from state `wrong.vm_step` on (None: the honest run's exit step)."""

    def __init__(self, honest: TileLevel, wrong: WrongOutput | None, forged_after: int | None) -> None:
        super().__init__(honest.claim)
        self.honest = honest
        self.wrong = wrong
        self.forged_after = forged_after

    def root_at(self, t: int) -> bytes:
        root = self.honest.root_at(t)
        return forged(root) if self.forged_after is not None and t > self.forged_after else root

    def _make_vm(self, t: int) -> VmLevel:
        vm = self.honest.vm_level(t)
        first, end = self.plan.tile(t)
        if self.wrong is None or not first <= self.wrong.element < end:
            return vm
        at = vm.final_step if self.wrong.vm_step is None else self.wrong.vm_step
        if not 1 <= at <= vm.length:
            raise FaultError(f"a lie at VM state {at} is outside 1..{vm.length}")
        offset = self.wrong.element * self._elem_size
        believed = self._out_bytes[offset: offset + self._elem_size]
        return LyingVmLevel(vm, VmLie(at, layout.OUTPUT.base + offset, believed))

