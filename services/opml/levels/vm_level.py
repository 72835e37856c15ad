"""The VM level: the trace of one MIPS kernel run. S_i = keccak of the packed VM state after i steps, for
0 <= i <= length (a power of two; a halted state steps to itself, so past the halt the trace repeats it).
Transition k is executed on chain by the `MIPS` contract from `step_witness(k)`.

One provider serves both uses: the VM level of one tile of an ML node (opened by `TileVmLink`, built by
`TileLevel`) and the single VM level of a single-kernel request (opened by `VmLinkVerifier`,
`opml.levels.kernel_level`). `VmLevel` is always honest; a lying party's level wraps it from outside
(`LyingVmLevel`) with the one VM lie there is (`VmLie`): from state `at` on, its states hold `data` at
`address` (a wrong output element, a forged output), so its first wrong root is S_at and the decisive step is the
one from S_{at-1} (which both parties agree on) into S_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from opml.game.trace import LastLevel, StepWitness, TraceError, TraceProvider, check_root_index, check_transition, \
    is_power_of_two
from opml.vm.snapshots import VMTrace
from opml.vm.state import VMState
from opml.vm.witness import build_witness

SNAPSHOT_INTERVAL = 1 << 12


class VmLevel(TraceProvider):
    """The honest VM trace of one kernel run, `length` (a power of two) transitions long; `trace` is the recorded
    run (shared: the level never changes it)."""

    is_last_level = True

    def __init__(self, trace: VMTrace, length: int) -> None:
        if not is_power_of_two(length):
            raise TraceError(f"VM trace length {length} is not a power of two")
        self.trace = trace
        self._length = length
        self._roots: dict[int, bytes] = {}

    @classmethod
    def run(cls, initial: VMState, length: int, interval: int = SNAPSHOT_INTERVAL) -> VmLevel:
        """The honest trace of `initial`, recorded for at most `length` steps."""
        return cls(VMTrace(initial, interval=interval, max_steps=length), length)

    @property
    def length(self) -> int:
        return self._length

    @property
    def final_step(self) -> int:
        """The step at which the run halted (or `length` if it did not)."""
        return self.trace.final_step

    @property
    def halted(self) -> bool:
        """True when the run stopped (exited or faulted) within the trace."""
        return self.trace.halted and self.trace.final_step <= self._length

    def state_at(self, i: int) -> VMState:
        """S_i as a full VM state (a copy)."""
        check_root_index(self._length, i)
        return self.trace.state_at(i)

    @cached_property
    def final_state(self) -> VMState:
        """S_length: the state the trace ends in."""
        return self.state_at(self._length)

    def root_at(self, i: int) -> bytes:
        root = self._roots.get(i)
        if root is None:
            root = self._roots[i] = self.state_at(i).hash()
        return root

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        raise LastLevel(f"the VM level is the last level; transition {k} is proven by one MIPS step")

    def step_witness(self, k: int) -> StepWitness:
        check_transition(self._length, k)
        witness = build_witness(self.state_at(k))
        return StepWitness(witness.state, witness.proof)


@dataclass(frozen=True)
class VmLie:
    """From state `at` on (1 <= at <= length), the bytes at `address` read `data`, whatever the run has there."""

    at: int
    address: int
    data: bytes


class LyingVmLevel(VmLevel):
    """A lying party's VM level, wrapping the honest one: its states, with `lie` laid over every state from
    `lie.at` on (the roots before that are the honest level's)."""

    def __init__(self, honest: VmLevel, lie: VmLie) -> None:
        if not 1 <= lie.at <= honest.length:
            raise TraceError(f"a lie at VM state {lie.at} is outside 1..{honest.length}")
        super().__init__(honest.trace, honest.length)
        self.honest = honest
        self.lie = lie

    def state_at(self, i: int) -> VMState:
        """This party's S_i: the honest state, with the lie's bytes from state `lie.at` on."""
        state = super().state_at(i)
        if i >= self.lie.at:
            state.memory.write_bytes(self.lie.address, self.lie.data)
        return state

    def root_at(self, i: int) -> bytes:
        return self.honest.root_at(i) if i < self.lie.at else super().root_at(i)


