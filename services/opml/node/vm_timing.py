"""Timing the VM work of a dispute without touching the levels: `timed_vm(provider, observe)` wraps a request-level
trace provider so that every call that runs the MIPS VM reports its wall time as `observe(call, seconds)`:

- `trace`: opening the last level (`open_next` on the level above it runs the tile's kernel to its end, with
  snapshots, and builds the link proof from the final state);
- `state`: a VM state root (`root_at` on the last level: a replay from the nearest snapshot);
- `witness`: a one-step witness (`step_witness`: the pre-state and its memory proofs).

The wrapped providers answer exactly what the wrapped ones answer. Each sub-level and VM root is computed (and
observed) once: the solver walks down from the request level on every turn, and a repeated answer costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from opml.game.trace import StepWitness, TraceProvider

Observe = Callable[[str, float], None]


class TimedProvider(TraceProvider):
    """`inner`, with the VM calls below it timed (module docstring)."""

    def __init__(self, inner: TraceProvider, observe: Observe) -> None:
        self.inner = inner
        self.observe = observe
        self._opened: dict[int, tuple[TimedProvider, bytes]] = {}
        self._roots: dict[int, bytes] = {}

    @property
    def length(self) -> int:
        return self.inner.length

    @property
    def is_last_level(self) -> bool:
        return self.inner.is_last_level

    def root_at(self, i: int) -> bytes:
        if not self.inner.is_last_level:
            return self.inner.root_at(i)
        if i not in self._roots:
            self._roots[i] = self._timed("state", self.inner.root_at, i)
        return self._roots[i]

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        if k not in self._opened:
            started = time.perf_counter()
            sub, proof = self.inner.open_next(k)
            if sub.is_last_level:
                self.observe("trace", time.perf_counter() - started)
            self._opened[k] = (TimedProvider(sub, self.observe), proof)
        return self._opened[k]

    def step_witness(self, k: int) -> StepWitness:
        return self._timed("witness", self.inner.step_witness, k)

    def _timed(self, call: str, method: Callable[[int], object], arg: int):  # noqa: ANN202 — method's result
        started = time.perf_counter()
        try:
            return method(arg)
        finally:
            self.observe(call, time.perf_counter() - started)


def timed_vm(provider: TraceProvider, observe: Observe) -> TraceProvider:
    """`provider` with every VM call below it reported to `observe(call, seconds)`."""
    return TimedProvider(provider, observe)
