"""Random access to the states of one VM run: `VMTrace` runs it once and keeps snapshots every `interval` steps.

`state_at(n)` is the initial state stepped n times. It starts from the nearest snapshot at or before n and runs
the fast executor forward at most `interval - 1` steps, so any state of a long run costs about the same.
Past the halting step the trace is padded: a step on an exited or faulted state returns it unchanged
(docs/vm.md), so `state_at(n)` for n >= `final_step` is the halted state.
"""

from __future__ import annotations

import bisect

import structlog

from opml.vm.fast import FastMachine, run_fast
from opml.vm.state import VMState
from opml.vm.witness import Witness, build_witness

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = 1 << 16


class TraceRangeError(IndexError):
    """A step outside what the trace knows (negative, or past a run that stopped at its step limit)."""


class VMTrace:
    """The trace S_0, S_1, ... of running `initial` until it halts (or for at most `max_steps` steps).

    Steps are counted from `initial` (S_0 = initial), whatever its own step counter says. The initial state
    is not modified. Snapshots share memory pages copy-on-write, so memory grows with the pages a run
    writes, not with the number of snapshots.
    """

    def __init__(self, initial: VMState, interval: int = DEFAULT_INTERVAL, max_steps: int | None = None) -> None:
        if interval < 1:
            raise ValueError(f"snapshot interval must be >= 1, got {interval}")
        if max_steps is not None and max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        self.interval = interval
        self._snapshot_steps: list[int] = []
        self._snapshots: list[VMState] = []
        self._record(initial.copy(), max_steps)
        self.final_step: int = self._snapshot_steps[-1]
        """Steps from S_0 to the last state of the run: the halting step, or max_steps if it did not halt."""

    def _keep(self, n: int, state: VMState) -> None:
        state.memory.root()  # hash now, so every later copy shares the hashed pages
        self._snapshot_steps.append(n)
        self._snapshots.append(state.copy())

    def _record(self, state: VMState, max_steps: int | None) -> VMState:
        """Runs `state` to its end, keeping a snapshot every `interval` steps and one of the final state."""
        machine = FastMachine(state)
        n = 0
        while True:
            self._keep(n, state)  # every chunk ends at a multiple of the interval or at the end of the run
            if not machine.running or n == max_steps:
                break
            n += machine.run(self.interval if max_steps is None else min(self.interval, max_steps - n))
            machine.sync_to(state)
        log.info("vm_trace_recorded", steps=n, snapshots=len(self._snapshots), halted=not machine.running)
        return state

    @property
    def halted(self) -> bool:
        """True when the run ended by exit or fault (the trace is then defined for every n >= 0)."""
        return not self._snapshots[-1].running

    def final_state(self) -> VMState:
        """A copy of the last state of the run (S_final_step)."""
        return self._snapshots[-1].copy()

    def state_at(self, n: int) -> VMState:
        """A copy of S_n: the initial state stepped n times (padded with the halted state past the end)."""
        if n < 0:
            raise TraceRangeError(f"step {n} is negative")
        if n >= self.final_step:
            if n > self.final_step and not self.halted:
                raise TraceRangeError(f"step {n} is past the run's step limit {self.final_step} (it did not halt)")
            return self.final_state()
        i = bisect.bisect_right(self._snapshot_steps, n) - 1
        state = self._snapshots[i].copy()
        run_fast(state, n - self._snapshot_steps[i])
        return state

    def hash_at(self, n: int) -> bytes:
        """keccak256 of the packed S_n (the VM-level trace commitment)."""
        return self.state_at(n).hash()

    def root_at(self, n: int) -> bytes:
        """Memory Merkle root of S_n."""
        return self.state_at(n).memory.root()

    def witness_at(self, n: int) -> Witness:
        """The witness of step n (S_n -> S_{n+1}): packed S_n and the proofs the on-chain step needs."""
        return build_witness(self.state_at(n))
