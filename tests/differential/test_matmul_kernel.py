"""matmul_i8 in the VM (reference interpreter and fast executor) equals numpy's exact integer matmul."""

from __future__ import annotations

import numpy as np
import pytest

from opml.kernels import load_kernel
from opml.kernels.params import EXIT_BAD_SHAPE, EXIT_BAD_TILE, EXIT_OK, pack_matmul_params
from opml.vm import interp, layout
from opml.vm.fast import run_fast
from opml.vm.state import Status

EXECUTORS = {"reference": interp.run, "fast": run_fast}


def _operands(rng: np.random.Generator, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return a, b


def _run_matmul(executor, a, b, first=0, end=None, output=b""):
    m, k = a.shape
    n = b.shape[1]
    state = load_kernel("matmul_i8", params=pack_matmul_params(m, k, n, first, end),
                        inputs=[a.tobytes(), b.tobytes()], output=output)
    executor(state, 50_000_000)
    return state


def _output(state, count: int) -> np.ndarray:
    return np.frombuffer(state.memory.read_bytes(layout.OUTPUT.base, 4 * count), dtype="<i4")


@pytest.mark.parametrize("seed", range(8))
def test_whole_output_matches_numpy_on_both_executors(seed):
    rng = np.random.default_rng(seed)
    m, k, n = (int(x) for x in rng.integers(1, 13, size=3))
    a, b = _operands(rng, m, k, n)
    expected = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32).ravel()
    states = {}
    for name, executor in EXECUTORS.items():
        state = _run_matmul(executor, a, b)
        assert (state.status, state.exit_code) == (Status.EXITED, EXIT_OK), f"{name}: {state}"
        np.testing.assert_array_equal(_output(state, m * n), expected, err_msg=f"{name} executor, {m}x{k}x{n}")
        states[name] = state
    assert states["reference"].encode() == states["fast"].encode()


@pytest.mark.parametrize("seed", range(4))
def test_tile_writes_only_its_range(seed):
    """A tile computes [first, end) and leaves the rest of the output region as it was."""
    rng = np.random.default_rng(100 + seed)
    m, k, n = (int(x) for x in rng.integers(2, 10, size=3))
    a, b = _operands(rng, m, k, n)
    first, end = sorted(int(x) for x in rng.integers(0, m * n + 1, size=2))
    before = rng.integers(-2**31, 2**31, size=m * n + 4, dtype=np.int32)
    expected = before.copy()
    expected[first:end] = (a.astype(np.int64) @ b.astype(np.int64)).ravel()[first:end]
    for name, executor in EXECUTORS.items():
        state = _run_matmul(executor, a, b, first, end, output=before.tobytes())
        assert state.exit_code == EXIT_OK, name
        np.testing.assert_array_equal(_output(state, m * n + 4), expected, err_msg=f"{name} tile [{first}, {end})")


def test_tiles_compose_to_the_whole_output():
    rng = np.random.default_rng(7)
    a, b = _operands(rng, 9, 17, 11)
    cuts = [0, 5, 40, 41, 99]
    output = b""
    for first, end in zip(cuts, cuts[1:]):
        state = _run_matmul(run_fast, a, b, first, end, output=output)
        output = bytes(_output(state, 99).tobytes())
    np.testing.assert_array_equal(np.frombuffer(output, dtype="<i4"), (a.astype(np.int64) @ b).ravel())


def test_large_shape_on_the_fast_executor():
    """A size the reference interpreter would need seconds for; also the most negative products."""
    rng = np.random.default_rng(11)
    a, b = _operands(rng, 70, 300, 50)
    a[0, :] = -128
    b[:, 0] = -128
    state = _run_matmul(run_fast, a, b)
    assert state.exit_code == EXIT_OK
    np.testing.assert_array_equal(_output(state, 70 * 50), (a.astype(np.int64) @ b.astype(np.int64)).ravel())


@pytest.mark.parametrize("executor", EXECUTORS.values(), ids=EXECUTORS.keys())
@pytest.mark.parametrize("dims, tile, code", [
    ((2, 3, 4), (0, 9), EXIT_BAD_TILE),
    ((2, 3, 4), (5, 4), EXIT_BAD_TILE),
    ((0, 3, 4), (0, 0), EXIT_BAD_SHAPE),
    ((2, 3, 0), (0, 0), EXIT_BAD_SHAPE),
    ((2, 0x10001, 1), (0, 2), EXIT_BAD_SHAPE),
])
def test_bad_params_exit_with_a_code(executor, dims, tile, code):
    state = load_kernel("matmul_i8", params=pack_matmul_params(*dims, *tile))
    executor(state, 10_000)
    assert (state.status, state.exit_code) == (Status.EXITED, code)
