"""The ML level stack as a node backend (`kind = "ml"` in the deployment file): the model file is committed once
(docs/levels.md), a request's bytes are the input tensor (the model input's dtype and shape, C order), and the
request-level provider is `opml.levels.request_level.RequestLevel` (`opml.levels.lies` for a node told to lie).

    "models": {"2": {"kind": "ml", "model_file": "models/mnist_mlp.opml"}}

`model_file` is relative to the config's `model_dir` (default: the repository root). A node without the file may
name where to fetch it instead, with its registered keccak256: `{"kind": "ml", "model_uri": "http://…",
"file_hash": "0x…"}`; it is fetched into the config's `cache_dir` and checked before serving (the daemon also
checks the hash against the registry's). Fault injection (tests,
demos): `wrong-output:NODE:ELEMENT[:VM_STEP[:DELTA]]` (docs/levels.md, `opml.levels.faults.WrongOutput`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import structlog

from opml.hashing import keccak
from opml.levels.commitments import ModelCommitment
from opml.levels.faults import Fault, WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.kernels import MANIFEST_PATH
from opml.levels.tiling import DEFAULT_TILING, NodePlan, data_free_steps, plan_model, tiles_over_budget
from opml.ml.errors import MLError
from opml.ml.model import Model
from opml.ml.modelfile import load
from opml.ml.tensor import DTYPES
from opml.paths import REPO_ROOT

from .backend_api import BackendError, Claim, RequestInput
from .cache import write_atomic
from .config import NodeConfig
from .deployment import ModelSpec

log = structlog.get_logger(__name__)
T = TypeVar("T")
DATA_FLOW_VERSION = 1  # of `opml.vm.taint`'s rules: kept data-free steps found under other rules are not used


class MlBackend:
    """A party on one committed integer model: honest without `faults` (its claims never pass through
    `opml.levels.faults`), lying as they say with them."""

    def __init__(self, model_file: Path, faults: frozenset[Fault] = frozenset(), plans_dir: Path | None = None) -> None:
        """`plans_dir`: where the model's tiling plan (a VM run of every tile, docs/levels.md) is kept between
        runs, so a restarted node runs no VM before its first submission; None: planned anew."""
        if not model_file.is_file():
            raise BackendError(f"model file {model_file} does not exist")
        model = load(model_file)
        self.file_hash = keccak(model_file.read_bytes())
        self.commitment = ModelCommitment(model, planned(model, self.file_hash, plans_dir))
        self.faults = faults
        self._data_free: tuple[tuple[NodePlan, ...], dict[int, tuple[int, ...]]] | None = None
        # not a daemon thread: the interpreter must not exit under a numba compilation (it aborts)
        self._data_flow = threading.Thread(target=self._find_data_free, args=(plans_dir,), name="data-free-steps")
        self._data_flow.start()

    def model_roots(self) -> tuple[bytes, bytes, bytes]:
        return self.commitment.roots

    def input_tensor(self, data: bytes) -> np.ndarray:
        """The request bytes as the model's input tensor; BackendError when they cannot be one."""
        spec = self.commitment.model.tensors[self.commitment.input_slot]
        dtype = np.dtype(DTYPES[spec.dtype])
        expected = int(np.prod(spec.shape)) * dtype.itemsize
        if len(data) != expected:
            raise BackendError(f"input has {len(data)} bytes; the model takes {spec.type} ({expected} bytes)")
        return np.frombuffer(data, dtype).reshape(spec.shape)

    def claim(self, request: RequestInput) -> Claim:
        level = self.party(self.input_tensor(request.input))
        output, trace_commitment = level.submission()
        return Claim(output=output, output_commitment=level.root_at(1), trace_commitment=trace_commitment,
                     provider=level, runs_vm=True, refusal=lambda: self.budget_refusal(level))

    def party(self, input_value: np.ndarray) -> RequestLevel:
        """This party's request level for an input: the honest `RequestLevel`, or the liar built around it."""
        if self.faults:
            return LyingRequestLevel(self.commitment, input_value, self.faults)
        return RequestLevel(self.commitment, input_value)

    def _find_data_free(self, plans_dir: Path | None) -> None:
        """Which nodes' tiles take the same VM steps on every input (`opml.levels.tiling.data_free_steps`, kept in
        `plans_dir` like the plan); found in a thread at start-up, the budget check runs every node until then."""
        plans = self.commitment.plans
        started = time.perf_counter()
        try:
            steps = kept_data_free_steps(self.commitment.model, plans, self.file_hash, plans_dir)
        except MLError as exc:  # a kernel that fails on the sample: every node is checked per request, as before
            log.warning("data_free_steps_failed", error=str(exc))
            return
        self._data_free = (plans, steps)
        log.info("data_free_steps", nodes=len(plans), data_free=len(steps),
                 seconds=round(time.perf_counter() - started, 3))

    def data_free_steps(self, timeout: float | None = None) -> dict[int, tuple[int, ...]]:
        """Node index -> its tiles' steps on every input, for the committed plan; {} until found (waits up to
        `timeout` seconds for them)."""
        self._data_flow.join(timeout)
        if self._data_free is None or self._data_free[0] != self.commitment.plans:
            return {}
        return self._data_free[1]

    def budget_refusal(self, level: RequestLevel) -> str | None:
        """Why this inference must not be submitted: its tiles whose VM run would not halt within the committed
        trace length (docs/levels.md "Tiles"); None when every tile fits. Nodes whose steps are the same on every
        input (`data_free_steps`) are not run again."""
        plans = self.commitment.plans
        over = tiles_over_budget(self.commitment.model, level.graph.values, plans, self.data_free_steps(0))
        if not over:
            return None
        tiles = ", ".join(f"node {run.node} tile {run.tile} ({run.steps} steps > {plans[run.node].vm_length})"
                          for run in over[:4])
        return f"{len(over)} tile(s) over the VM step budget: {tiles}"


def planned(model: Model, file_hash: bytes, plans_dir: Path | None) -> tuple[NodePlan, ...]:
    """`plan_model(model)`, read from `plans_dir` when an earlier run planned the same model file with the same
    kernels (a wrong plan cannot slip through: the daemon checks the roots it gives against the registry)."""
    if plans_dir is None:
        return plan_model(model)

    def read(entries: Any) -> tuple[NodePlan, ...] | None:
        plans = tuple(NodePlan(*entry) for entry in entries)
        return plans if len(plans) == len(model.nodes) else None

    return _kept(_cache_path(plans_dir, file_hash, ""), read, lambda: plan_model(model),
                 lambda plans: [[p.tile_elems, p.out_elems, p.vm_depth] for p in plans])


def kept_data_free_steps(model: Model, plans: tuple[NodePlan, ...], file_hash: bytes,
                         plans_dir: Path | None) -> dict[int, tuple[int, ...]]:
    """`data_free_steps(model, plans)`, read from `plans_dir` when an earlier run found them for the same model
    file, kernels, plan and analysis."""
    if plans_dir is None:
        return data_free_steps(model, plans)
    plan_key = keccak(json.dumps([[p.tile_elems, p.out_elems] for p in plans]).encode()).hex()[:8]

    def read(entries: Any) -> dict[int, tuple[int, ...]] | None:
        steps = {int(node): tuple(int(n) for n in tiles) for node, tiles in entries.items()}
        fits = all(0 <= k < len(plans) and len(tiles) == plans[k].tile_count for k, tiles in steps.items())
        return steps if fits else None

    return _kept(_cache_path(plans_dir, file_hash, f"-steps{DATA_FLOW_VERSION}-{plan_key}"), read,
                 lambda: data_free_steps(model, plans), lambda steps: {str(k): list(v) for k, v in steps.items()})


def _cache_path(plans_dir: Path, file_hash: bytes, suffix: str) -> Path:
    kernels = keccak(MANIFEST_PATH.read_bytes()).hex()[:16]
    return plans_dir / f"{file_hash.hex()[:16]}-{kernels}-{DEFAULT_TILING.key}{suffix}.json"


def _kept(path: Path, read: Callable[[Any], T | None], compute: Callable[[], T], write: Callable[[T], Any]) -> T:
    """What `read` makes of the JSON at `path` (None or an error: not usable), else `compute()`, written there
    (through a temporary file) for the next run."""
    try:
        kept = read(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        kept = None
    if kept is not None:
        return kept
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write(value))
    except OSError:
        pass  # a read-only cache only costs the computation at the next start
    return value


def ml_backend(spec: ModelSpec, config: NodeConfig) -> MlBackend:
    faults = frozenset(parse_ml_fault(text) for text in config.faults)
    return MlBackend(model_path(spec, config), faults, config.cache_dir / "plans")


def model_path(spec: ModelSpec, config: NodeConfig) -> Path:
    """Where a model file-backed kind (`ml`, `llm`) reads its file: `model_file` under the config's `model_dir`
    (default: the repository root), or `model_uri` fetched into the config's `cache_dir` and checked against
    `file_hash`; BackendError when the spec names neither or the fetch fails."""
    name, uri = spec.param("model_file"), spec.param("model_uri")
    if isinstance(name, str):
        return (config.model_dir or REPO_ROOT) / name
    if isinstance(uri, str):
        return _fetched(uri, spec.param("file_hash"), config, spec.kind)
    raise BackendError(f"{spec.kind} model needs model_file (a path) or model_uri and file_hash; got {name!r}")


def _fetched(uri: str, file_hash: object, config: NodeConfig, kind: str = "ml") -> Path:
    from .registration import ModelFileError, fetch_model_file

    try:
        digest = bytes.fromhex(str(file_hash).removeprefix("0x"))
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise BackendError(f"{kind} model from {uri} needs file_hash, a 32-byte hex keccak256; got {file_hash!r}")
    try:
        return fetch_model_file(uri, digest, config.cache_dir / "models")
    except ModelFileError as exc:
        raise BackendError(str(exc)) from None


def parse_ml_fault(text: str) -> Fault:
    """`wrong-output:NODE:ELEMENT[:VM_STEP[:DELTA]]` → WrongOutput(node, element, delta (default 1), vm_step
    (default 1))."""
    parts = text.split(":")
    if parts[0] == "wrong-output" and len(parts) in (3, 4, 5):
        try:
            numbers = [int(p) for p in parts[1:]]
        except ValueError:
            numbers = []
        if numbers:
            vm_step = numbers[2] if len(numbers) >= 3 else 1
            delta = numbers[3] if len(numbers) == 4 else 1
            return WrongOutput(numbers[0], numbers[1], delta, vm_step)
    raise BackendError(f"ml fault {text!r} is not wrong-output:NODE:ELEMENT[:VM_STEP[:DELTA]]")
