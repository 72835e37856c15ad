"""Timing helper shared by the benchmarks (not a benchmark itself: the runner only picks `bench_*` modules)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def median_s(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of `fn()` in seconds over `runs` calls, after `warmup` untimed calls (compilation, caches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))
