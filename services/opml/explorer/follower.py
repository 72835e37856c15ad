"""Follows the chain into an `Index`: heads and the Coordinator's and DisputeGame's logs from the deployment's start
block (the node's `Monitor`), each touched game's contract state (phase, clocks), and the decisive instruction read
from the step transaction's witness. Broker messages only wake it sooner.

The chain may go away and come back as another chain (a restarted devnet): every poll first checks that the last
indexed block still has the hash it had; when it does not (or the head fell behind it, or the chain id changed),
the index is rebuilt from the start block, with the deployment file read again. An unreachable node is an outage
to ride out: `connected` goes false, the index stays as it was, and polling goes on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import structlog
from web3 import Web3

from opml.chain.bindings import CoordinatorContract, DisputeGameContract, read_params
from opml.paths import REPO_ROOT
from opml.node.bus import Bus
from opml.node.deployment import Deployment, DeploymentError, load_deployment
from opml.node.monitor import ChainEvent, Monitor
from opml.vm.isa import disassemble
from opml.vm.state import InvalidState, decode_state

from .index import Index
from .views import ModelInfo

log = structlog.get_logger(__name__)

GAME_MOVES = ("GameCreated", "LevelOpened", "Bisected", "Picked", "Stepped", "GameResolved", "GameCancelled",
              "GameSettled", "GameReleased")


@dataclass
class FollowerOptions:
    rpc_url: str
    deployment: Path
    broker_url: str | None = None
    poll_interval_s: float = 0.5
    model_dir: Path | None = None


class Follower:
    """Owns the index; `run()` keeps it in step with the chain; `on_change()` is called after each change."""

    def __init__(self, options: FollowerOptions, on_change: Callable[[], None] = lambda: None) -> None:
        self.options = options
        self.on_change = on_change
        self.index = Index()
        self.lock = threading.Lock()  # the poll thread changes the index; the app reads it under this lock
        self.models: dict[int, ModelInfo] = {}
        self.connected = False
        self.chain_id: int | None = None
        self.reindexed = 0  # how many times the index was rebuilt after the chain changed under it
        self.error: str | None = None
        self.head_seen_at = 0.0  # wall time the head's timestamp was read
        self._wake = asyncio.Event()
        self._w3 = Web3(Web3.HTTPProvider(options.rpc_url, request_kwargs={"timeout": 5}))
        self._monitor: Monitor | None = None
        self._deployment: Deployment | None = None
        self._anchor: tuple[int, bytes] | None = None  # (block, hash) of the last indexed block
        self._times: dict[int, int] = {}

    # -- the state the API shows ----------------------------------------------------------------------------------
    def chain_status(self) -> dict[str, Any]:
        d = self._deployment
        chain_now = self.index.head_time + max(0, int(time.time() - self.head_seen_at)) if self.head_seen_at else 0
        return {"connected": self.connected, "chain_id": self.chain_id, "rpc_url": self.options.rpc_url,
                "reindexed": self.reindexed, "error": self.error, "chain_now": chain_now,
                "coordinator": d.coordinator if d else None, "game": d.game if d else None,
                "start_block": d.start_block if d else None}

    # -- the loop ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll forever (every `poll_interval_s`, sooner on a broker message)."""
        tasks = [asyncio.create_task(self._bus())] if self.options.broker_url else []
        try:
            while True:
                version = self.index.version
                try:
                    await asyncio.to_thread(self.poll)
                except Exception as exc:  # the node down or restarting: ride it out
                    self._disconnected(exc)
                if self.index.version != version:
                    self.on_change()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_interval_s)
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            for task in tasks:
                task.cancel()

    def _disconnected(self, exc: Exception) -> None:
        if self.connected or self.error is None:
            log.warning("explorer_rpc_down", rpc_url=self.options.rpc_url, error=repr(exc)[:200])
        if self.connected:
            self.index.version += 1  # the pages show "disconnected"
        self.connected, self.error = False, f"{type(exc).__name__}: {str(exc)[:160]}"

    async def _bus(self) -> None:
        parsed = urlparse(self.options.broker_url or "")
        while self.chain_id is None:
            await asyncio.sleep(0.2)
        bus = Bus(parsed.hostname or "127.0.0.1", parsed.port or 1883, self.chain_id, "explorer",
                  lambda _topic, _payload: self._wake.set())
        await bus.run()

    def poll(self) -> None:
        """One round: (re)start indexing when needed, then take the new heads and events. Every network read
        happens first, outside the lock; if one fails nothing is applied and the next round reads the same blocks
        again. Then the index changes, inside the lock."""
        if self._monitor is None or self._chain_changed():
            self._start()
        assert self._monitor is not None
        first = self._monitor.next_block
        try:
            head, events = self._monitor.poll()
            times = {block: self._time(block) for block in {e.block for e in events} | {head}}
            steps = {int(e.args["gameId"]): self._read_step(e) for e in events if e.name == "Stepped"}
            with self.lock:
                running = self._running_games()
            touched = {int(e.args["gameId"]) for e in events if e.name in GAME_MOVES}
            states = {game_id: self._game_state(game_id) for game_id in touched | running}
            last = self._monitor.next_block - 1
            anchor = (last, bytes(self._w3.eth.get_block(last)["hash"])) if last >= 0 else None
        except Exception:
            self._monitor.next_block = first
            raise
        with self.lock:
            for event in events:
                try:
                    self.index.apply(event, times[event.block])
                except (KeyError, TypeError, ValueError, IndexError) as exc:  # an event shape this index does not know
                    log.warning("explorer_event_skipped", event=event.name, block=event.block, error=repr(exc)[:200])
            for game_id, state in states.items():
                self.index.set_game_state(game_id, state)
            for game_id, found in steps.items():
                if found is not None:
                    self.index.set_step_instruction(game_id, *found)
            self.index.set_head(head, times[head])
        self._anchor = anchor
        self.head_seen_at = time.time()
        if not self.connected:
            log.info("explorer_connected", rpc_url=self.options.rpc_url, head=head, chain_id=self.chain_id)
        self.connected, self.error = True, None

    def _chain_changed(self) -> bool:
        if self._w3.eth.chain_id != self.chain_id:
            return True
        if self._anchor is None:
            return False
        number, block_hash = self._anchor
        if self._w3.eth.block_number < number:
            return True
        return bytes(self._w3.eth.get_block(number)["hash"]) != block_hash

    def _start(self) -> None:
        """Index from scratch: read the deployment file, the contracts' constants, and scan from the start block."""
        first = self._monitor is None
        try:
            deployment = load_deployment(self.options.deployment)
        except DeploymentError as exc:
            raise ConnectionError(str(exc)) from None
        w3 = self._w3
        coordinator_binding = CoordinatorContract(w3, deployment.coordinator)
        game_binding = DisputeGameContract(w3, deployment.game)
        coordinator, game = coordinator_binding.contract, game_binding.contract
        index = Index(read_params(game_binding, coordinator_binding))
        models = {model_id: _model_info(spec, self.options.model_dir) for model_id, spec in
                  deployment.models.items()}
        with self.lock:
            self.chain_id = w3.eth.chain_id
            self._deployment, self._coordinator, self._game = deployment, coordinator, game
            self.index, self.models = index, models
        self._monitor = Monitor(w3, [coordinator, game], deployment.start_block)
        self._anchor, self._times = None, {}
        if not first:
            self.reindexed += 1
            log.warning("explorer_reindex", reason="the chain changed under the index", chain_id=self.chain_id)
        self.index.version = self.reindexed * 1_000_000 + 1  # a rebuilt index never repeats an old version
        log.info("explorer_indexing", coordinator=deployment.coordinator, game=deployment.game,
                 start_block=deployment.start_block)

    def _time(self, block: int) -> int:
        if block not in self._times:
            self._times[block] = int(self._w3.eth.get_block(block)["timestamp"])
        return self._times[block]

    def _running_games(self) -> set[int]:
        return {g.id for g in self.index.games.values() if self.index.game_running(g)}

    def _game_state(self, game_id: int) -> dict[str, Any]:
        g = self._game.functions.getGame(game_id).call()
        phase, submitter_left, challenger_left, last_move_at = int(g[4]), int(g[12]), int(g[13]), int(g[14])
        on_clock = "submitter" if phase in (1, 2) else "challenger" if phase in (3, 4) else None
        left = submitter_left if on_clock == "submitter" else challenger_left
        return {"phase": phase, "submitter_left": submitter_left, "challenger_left": challenger_left,
                "last_move_at": last_move_at, "on_clock": on_clock,
                "deadline": last_move_at + left if on_clock else None}

    def _read_step(self, event: ChainEvent) -> tuple[int, int, str] | None:
        """The instruction the on-chain step executed: the word at the pre-state's pc in the fetch proof's leaf."""
        game_id = int(event.args["gameId"])
        block = self._w3.eth.get_block(event.block, full_transactions=True)
        for tx in block["transactions"]:
            if tx["to"] is None or Web3.to_checksum_address(tx["to"]) != self._game.address:
                continue
            try:
                function, args = self._game.decode_function_input(tx["input"])
            except ValueError:
                continue
            if function.fn_name != "step" or int(args["gameId"]) != game_id:
                continue
            return decisive_instruction(bytes(args["stateData"]), bytes(args["proofData"]))
        return None


def decisive_instruction(state_data: bytes, proof_data: bytes) -> tuple[int, int, str] | None:
    """(pc, word, assembler text) of the instruction a step witness fetches; None when the step fetched nothing
    (a halted state, an unaligned pc) or the witness is not a VM one."""
    try:
        pc = decode_state(state_data).pc
    except InvalidState:
        return None
    if pc & 3 or len(proof_data) < 32:
        return None
    offset = pc & 31
    word = int.from_bytes(proof_data[offset:offset + 4], "little")
    return pc, word, disassemble(word)


def _model_info(spec: Any, model_dir: Path | None) -> ModelInfo:
    """Kind from the deployment; for an ML model whose file is at hand, its name, input shape and node ops."""
    model_file = spec.param("model_file")
    if spec.kind != "ml" or not model_file:
        return ModelInfo(kind=spec.kind)
    for base in (model_dir, Path.cwd(), REPO_ROOT):
        if base is None or not (Path(base) / model_file).is_file():
            continue
        try:
            from opml.ml.scales import QuantizedModel

            model = QuantizedModel.load(Path(base) / model_file).model
        except Exception as exc:  # a model file we cannot read only costs the explorer its op names
            log.warning("explorer_model_unreadable", model_file=str(model_file), error=str(exc)[:160])
            break
        shape = tuple(int(d) for d in model.tensors[model.inputs[0]].shape)
        return ModelInfo(kind="ml", name=model.name, input_shape=shape,
                         node_ops=tuple(node.op.value for node in model.nodes))
    return ModelInfo(kind="ml")
