"""The VM level of one tile: S_i = hash of the VM state after i steps of the tile's kernel run, i = 0..2^vm_depth
(a halted state steps to itself, so the trace is padded with the final state). Transition i is proven by one
on-chain MIPS step from the witness of S_i.

A liar's run (`Overlay`) follows the honest one until state `at`, from which on its states carry `data` at
`address` (a wrong output element): the first disagreement is the step into state `at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from opml.game.trace import LastLevel, StepWitness, check_root_index, check_transition
from opml.vm.snapshots import VMTrace
from opml.vm.state import VMState

SNAPSHOT_INTERVAL = 1 << 12


@dataclass(frozen=True)
class Overlay:
    at: int
    address: int
    data: bytes


class VmLevel:
    """One party's VM trace of a tile (honest when `overlay` is None)."""

    is_last_level = True

    def __init__(self, trace: VMTrace, length: int, overlay: Overlay | None = None) -> None:
        self.length = length
        self._trace = trace
        self.overlay = overlay
        self._hashes: dict[int, bytes] = {}

    @classmethod
    def run(cls, initial: VMState, length: int) -> VmLevel:
        """The honest trace of `initial`, recorded for at most `length` steps."""
        return cls(VMTrace(initial, interval=SNAPSHOT_INTERVAL, max_steps=length), length)

    def with_overlay(self, overlay: Overlay) -> VmLevel:
        """A liar's trace sharing this run: from state `overlay.at` on, `overlay.data` sits at its address."""
        return VmLevel(self._trace, self.length, overlay)

    @property
    def final_step(self) -> int:
        """The step at which the honest run halted (or `length` if it did not)."""
        return self._trace.final_step

    def state_at(self, i: int) -> VMState:
        """This party's S_i."""
        check_root_index(self.length, i)
        state = self._trace.state_at(i)
        if self.overlay is not None and i >= self.overlay.at:
            state.memory.write_bytes(self.overlay.address, self.overlay.data)
        return state

    def root_at(self, i: int) -> bytes:
        if i not in self._hashes:
            self._hashes[i] = self.state_at(i).hash()
        return self._hashes[i]

    @cached_property
    def final_state(self) -> VMState:
        return self.state_at(self.length)

    def open_next(self, k: int):  # noqa: ANN201
        raise LastLevel(f"the VM level is the last level; transition {k} is proven by one MIPS step")

    def step_witness(self, k: int) -> StepWitness:
        check_transition(self.length, k)
        from opml.vm.witness import build_witness

        witness = build_witness(self.state_at(k))
        return StepWitness(witness.state, witness.proof)
