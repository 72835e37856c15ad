"""VMTrace: the state at any step equals the reference interpreter stepped that many times."""

from __future__ import annotations

import numpy as np
import pytest

from opml.hashing import keccak
from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import interp
from opml.vm.snapshots import TraceRangeError, VMTrace
from opml.vm.state import Status, VMState


def _matmul_state() -> VMState:
    rng = np.random.default_rng(1)
    m, k, n = 4, 9, 5
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(m, k, n), inputs=[a.tobytes(), b.tobytes()])


@pytest.fixture(scope="module")
def initial() -> VMState:
    return _matmul_state()


@pytest.fixture(scope="module")
def reference_hashes(initial) -> list[bytes]:
    """hash of S_n for every n, by stepping the reference interpreter."""
    state = initial.copy()
    hashes = [state.hash()]
    while state.running:
        interp.run(state, 1)
        hashes.append(state.hash())
    return hashes


@pytest.fixture(scope="module")
def trace(initial) -> VMTrace:
    return VMTrace(initial, interval=100)


def test_final_step_is_the_halting_step(trace, reference_hashes):
    assert trace.halted
    assert trace.final_step == len(reference_hashes) - 1
    assert trace.final_state().status == Status.EXITED


def test_state_at_equals_reference(trace, reference_hashes):
    final = trace.final_step
    rng = np.random.default_rng(2)
    steps = {0, 1, 99, 100, 101, 200, final - 1, final, *(int(x) for x in rng.integers(0, final, size=15))}
    for n in sorted(steps):
        assert trace.state_at(n).hash() == reference_hashes[n], f"state at step {n}"
        assert trace.hash_at(n) == reference_hashes[n]


def test_root_at_is_the_memory_root(trace, initial):
    reference = initial.copy()
    interp.run(reference, 345)
    assert trace.root_at(345) == reference.memory.root()


def test_witness_at_is_the_reference_witness_of_that_step(trace, initial, reference_hashes):
    reference = initial.copy()
    interp.run(reference, 222)
    expected = interp.step(reference, witness=True)
    assert trace.witness_at(222) == expected
    assert expected.state == trace.state_at(222).encode() and expected.proof
    assert keccak(trace.state_at(223).encode()) == reference_hashes[223]


def test_padding_past_the_end_repeats_the_halted_state(trace, reference_hashes):
    for n in (trace.final_step + 1, trace.final_step + 1000, 1 << 40):
        assert trace.hash_at(n) == reference_hashes[-1]


def test_state_at_returns_independent_copies(trace, reference_hashes):
    state = trace.state_at(150)
    state.memory.write_word(0x8000_0000, 0xFFFF_FFFF)
    state.regs[5] = 1
    assert trace.hash_at(150) == reference_hashes[150]


def test_initial_state_is_not_modified(initial, reference_hashes):
    VMTrace(initial, interval=64)
    assert initial.hash() == reference_hashes[0]


def test_interval_one_and_interval_larger_than_the_run(initial, reference_hashes):
    for interval in (1, 10**9):
        trace = VMTrace(initial, interval=interval)
        for n in (0, 7, len(reference_hashes) - 2):
            assert trace.hash_at(n) == reference_hashes[n], f"interval {interval}, step {n}"


def test_step_limit_bounds_the_trace(initial, reference_hashes):
    trace = VMTrace(initial, interval=50, max_steps=120)
    assert (trace.final_step, trace.halted) == (120, False)
    assert trace.hash_at(120) == reference_hashes[120]
    with pytest.raises(TraceRangeError, match="did not halt"):
        trace.state_at(121)
    with pytest.raises(TraceRangeError, match="negative"):
        trace.state_at(-1)


def test_a_halted_initial_state_is_a_one_state_trace():
    state = VMState(status=Status.FAULTED, exit_code=1)
    trace = VMTrace(state)
    assert trace.final_step == 0
    assert trace.hash_at(5) == state.hash()
