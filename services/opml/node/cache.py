"""The node's local state on disk: the move journal (intents, so a restarted daemon never sends a move twice), the
claim cache (a request's native result, so a restart does not redo inference) and the recorded game outcomes (so a
restart logs a game's end exactly once).

Everything else a daemon needs after a restart comes from the chain, and what is here is only a cache of it: it
lives under a directory named by the chain's identity (`ChainIdentity`: chain id + the hash of the deployment's
first block), so the state of another chain (a devnet brought down and up again, a fork) is never read. Files are
written atomically and fsynced before the transaction they describe is broadcast, so a SIGKILL at any point leaves
a consistent journal.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class CacheError(Exception):
    """The cache directory is unusable (not writable, or a file in it is corrupt)."""


@dataclass(frozen=True)
class ChainIdentity:
    """Which chain local state belongs to: the chain id and the hash of the block the deployment starts at (two
    chains with the same id and contract addresses still differ there)."""

    chain_id: int
    block: int
    block_hash: bytes

    @property
    def name(self) -> str:
        """The state directory's name: `<chain id>-<first 8 bytes of the block hash, hex>`."""
        return f"{self.chain_id}-{self.block_hash[:8].hex()}"


def chain_state_dir(root: Path, identity: ChainIdentity) -> Path:
    """Where the state for `identity` lives under the cache directory `root`."""
    return Path(root) / identity.name


SHARED_ENTRIES = ("models", "plans")  # fetched model files and tiling plans: the same on every chain


def foreign_state(root: Path, identity: ChainIdentity) -> list[str]:
    """Entries of `root` that hold another chain's state (or the unkeyed layout of older nodes): ignored."""
    if not Path(root).is_dir():
        return []
    return sorted(p.name for p in Path(root).iterdir()
                  if p.name not in (identity.name, *SHARED_ENTRIES) and not p.name.startswith("."))


@dataclass(frozen=True)
class Intent:
    """A transaction the node decided to send for `key` when the chain stood at `fingerprint`, with `nonce`.

    `status`: `pending` (written before broadcast), `sent` (broadcast, not mined yet), `mined`, `reverted` (mined,
    reverted), or `dropped` (never broadcast, or its block left the canonical chain). `block`/`block_hash` say where
    it was mined; it counts as done only while that block is canonical. `attempts`: sends for this state."""

    key: str
    fingerprint: str
    action: str
    nonce: int
    status: str = "pending"
    tx_hash: str = ""
    block: int = 0
    block_hash: str = ""
    attempts: int = 1


def write_atomic(path: Path, data: Any) -> None:
    """`data` as JSON at `path`, all or nothing: written and fsynced beside it, then renamed over it (the
    temporary name is this thread's own, so two writers of one path never share it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise CacheError(f"cache file {path} is corrupt: {exc}") from None


class Journal:
    """One intent per key (the latest decision for a request or game), under `<root>/intents/`."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "intents"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create cache directory {self.dir}: {exc}") from None

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def get(self, key: str) -> Intent | None:
        data = _read(self._path(key))
        return Intent(**data) if data is not None else None

    def put(self, intent: Intent) -> None:
        write_atomic(self._path(intent.key), asdict(intent))

    def all(self) -> list[Intent]:
        return [Intent(**_read(p)) for p in sorted(self.dir.glob("*.json"))]  # type: ignore[arg-type]


class Outcomes:
    """The games whose outcome this node has recorded (logged `game_over`, counted in its metrics), under
    `<root>/outcomes/`: a run that finds a game it played already over records the outcome exactly when the run
    that played it was killed before it could."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "outcomes"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, game_id: int) -> Path:
        return self.dir / f"game-{game_id}.json"

    def recorded(self, game_id: int) -> bool:
        return _read(self._path(game_id)) is not None

    def put(self, game_id: int, phase: str, won: bool) -> None:
        write_atomic(self._path(game_id), {"game": game_id, "phase": phase, "won": won})


class ClaimCache:
    """A request's native result (output and commitments) keyed by model and anchor, under `<root>/claims/`
    (`<root>/claims/<variant>/` for a node that injects faults: its results are not the honest ones)."""

    def __init__(self, root: Path, variant: str = "") -> None:
        self.dir = Path(root) / "claims" / variant if variant else Path(root) / "claims"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, model_id: int, anchor: bytes) -> Path:
        return self.dir / f"{model_id}-{anchor.hex()}.json"

    def get(self, model_id: int, anchor: bytes) -> dict | None:
        return _read(self._path(model_id, anchor))

    def put(self, model_id: int, anchor: bytes, output: bytes, output_commitment: bytes,
            trace_commitment: bytes, runs_vm: bool = False) -> None:
        write_atomic(self._path(model_id, anchor), {
            "output": output.hex(), "output_commitment": output_commitment.hex(),
            "trace_commitment": trace_commitment.hex(), "runs_vm": runs_vm,
        })

    def note_refusal(self, model_id: int, anchor: bytes, refusal: str | None) -> None:
        """Keep, with the cached claim, why it must not be submitted (None: it may be)."""
        entry = self.get(model_id, anchor)
        if entry is not None:
            write_atomic(self._path(model_id, anchor), {**entry, "refusal": refusal})
