"""VM speed on the matmul_i8 kernel: reference interpreter vs fast executor, and state roots via snapshots.

Figures: `vm_reference_ips`, `vm_fast_ips` (instructions/s; fast excludes JIT compile), their ratio,
`vm_snapshot_build_s` (one run of ~1M steps recording snapshots) and `vm_state_root_ms` (median time to
produce the memory root at a random step of that run from the snapshots).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import interp
from opml.vm.fast import run_fast
from opml.vm.snapshots import VMTrace
from opml.vm.state import Status, VMState

REFERENCE_DIMS = (128, 128, 128)  # ~12.6 M steps: a few seconds in the reference interpreter
FAST_DIMS = (400, 400, 400)  # ~390 M steps: over a second in the fast executor
TRACE_DIMS = (48, 64, 48)  # ~0.9 M steps
SNAPSHOT_INTERVAL = 1 << 14
ROOT_SAMPLES = 15


def _matmul_state(m: int, k: int, n: int, seed: int = 0) -> VMState:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(m, k, n), inputs=[a.tobytes(), b.tobytes()])


def _instructions_per_second(executor, dims: tuple[int, int, int]) -> float:
    state = _matmul_state(*dims)
    started = time.perf_counter()
    steps = executor(state)
    elapsed = time.perf_counter() - started
    if state.status != Status.EXITED or state.exit_code != 0:
        raise RuntimeError(f"matmul kernel did not finish cleanly: {state}")
    return steps / elapsed


def _state_root_figures() -> dict[str, float]:
    initial = _matmul_state(*TRACE_DIMS, seed=1)
    initial.memory.root()  # the initial commitment is known before any dispute
    started = time.perf_counter()
    trace = VMTrace(initial, interval=SNAPSHOT_INTERVAL)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(2)
    times = []
    for n in rng.integers(0, trace.final_step, size=ROOT_SAMPLES):
        started = time.perf_counter()
        trace.hash_at(int(n))  # the full state hash (its memory root included)
        times.append(time.perf_counter() - started)
    return {
        "vm_trace_steps": trace.final_step,
        "vm_snapshot_build_s": round(build_s, 3),
        "vm_state_root_ms": round(1000 * statistics.median(times), 3),
    }


def run() -> dict[str, float]:
    run_fast(_matmul_state(2, 2, 2))  # load (or compile) the JIT code outside the timings
    reference = _instructions_per_second(interp.run, REFERENCE_DIMS)
    fast = _instructions_per_second(run_fast, FAST_DIMS)
    return {
        "vm_reference_ips": round(reference),
        "vm_fast_ips": round(fast),
        "vm_fast_vs_reference_ratio": round(fast / reference, 1),
        **_state_root_figures(),
    }
