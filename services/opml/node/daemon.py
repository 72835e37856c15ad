"""What the submitter and the challenger share: wiring (config → chain, backends, journal, metrics, bus), the
monitor loop, claims (native results, cached), playing a game to its end, and withdrawing credits.

A subclass says what to do with each confirmed chain event (`on_event`); everything it starts goes through the
scheduler, one task per request, submission or game, woken only by the events that name it.

The chain is the only truth; what the daemon holds in memory is derived from it, and its disk (journal, claims)
is a cache of it kept under the chain's identity. When the chain reorganizes, the daemon drops what it derived,
stops its tasks, reads the logs again from the start block and lets every task re-derive what is left to do (the
journal keeps it from sending a move twice while the move is still in the canonical chain). When the chain was
replaced (the deployment block's hash changed: a devnet brought down and up again), it also switches to the new
chain's cache directory: nothing of the old chain is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from hashlib import sha256
from typing import Any

import structlog
from web3.exceptions import ContractLogicError, Web3Exception

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.tx import TxSender
from opml.game.trace import StepWitness, TraceProvider
from opml.game.types import Action, ClaimTimeout, GameView, Role, Step

from .backends import BackendError, Claim, ModelBackend, RequestInput, build_backends
from .bus import Bus, DisputeNote, NodeStatus, dispute_topic, status_topic
from .cache import ChainIdentity, ClaimCache, Journal, Outcomes, chain_state_dir, foreign_state
from .config import ConfigError, NodeConfig
from .deployment import Deployment, load_deployment
from .embedded_broker import EmbeddedBroker, EmbeddedBrokerError
from .metrics import Metrics
from .monitor import ChainEvent, Monitor, Poll
from .player import Player
from .responder import Outcome, Responder
from .rpc import node_web3
from .scheduler import Scheduler
from .vm_timing import timed_vm

STATUS_EVERY_S = 5.0
WITHDRAW_CHECK_S = 30.0  # how often an idle node reads its credit and balance without an event naming it
MIN_GAS_WEI = 10**16  # what a few moves cost on a devnet-priced chain
WORKER_THREADS = 32  # threads beyond the sends and request tasks: monitor, games, reads (asyncio.to_thread)
# Attributes (of the daemon or its subclasses) derived from chain events: dropped when the chain reorganizes.
DERIVED = ("inputs", "_request_keys", "closed", "_claims", "_game_requests", "submissions", "served", "models",
           "challenged", "_constants")
CLOSING_EVENTS = ("Finalized", "RequestCancelled")
CREDIT_EVENTS = ("Finalized", "Slashed", "GameSettled", "RequestCancelled", "Withdrawn")


class Daemon:
    """Base of the submitter and challenger daemons."""

    role: Role

    def __init__(self, config: NodeConfig, deployment: Deployment | None = None) -> None:
        self.config = config
        self.deployment = deployment or load_deployment(config.deployment)
        self.w3 = node_web3(config.rpc_url)
        self.bindings = GameBindings.at(self.w3, self.deployment.coordinator, self.deployment.start_block)
        self.sender = TxSender(self.w3, config.key, self.bindings.errors())
        self.address = self.sender.address
        self.backends: dict[int, ModelBackend] = build_backends(self.deployment, config)
        self.identity: ChainIdentity | None = None
        self.journal: Journal
        self.claims: ClaimCache
        self.outcomes: Outcomes
        self.responder: Responder
        self.player = Player(self.bindings, self.address)
        self.metrics = Metrics(self.role.name.lower())
        self.scheduler = Scheduler(on_failure=self._task_failed, active=config.active_requests)
        self.monitor = self._new_monitor()
        self.inputs: dict[int, bytes] = {}
        self._request_keys: dict[int, tuple[int, bytes]] = {}  # request id → (model id, anchor), from its event
        self.closed: set[int] = set()  # requests finalized or cancelled (as far as the events handled say)
        self._constants: dict[str, int] = {}  # the coordinator's immutable values, read once per chain
        self._game_requests: dict[int, int] = {}  # game id → request id
        self._missing_reported = False
        self._previous_identity: ChainIdentity | None = None
        self.games_in_flight = 0
        self._wake = asyncio.Event()
        self._bus: Bus | None = None
        self._embedded: EmbeddedBroker | None = None
        self._claims: dict[int, Claim] = {}
        self._last_status = 0.0
        self._head_time: int | None = None
        self.log = structlog.get_logger(f"opml.node.{self.role.name.lower()}").bind(
            node=config.node_name, address=self.address)

    def _new_monitor(self) -> Monitor:
        start = self.config.start_block if self.config.start_block is not None else self.deployment.start_block
        contracts = [self.bindings.coordinator.contract, self.bindings.game.contract]
        return Monitor(self.w3, contracts, start, self.config.confirmations)

    # -- chain identity and local state ---------------------------------------------------------------------
    def chain_identity(self) -> ChainIdentity | None:
        """(chain id, hash of the deployment block) now; None while the chain has no such block yet."""
        block = self.w3.eth.get_block(self.deployment.start_block) \
            if self.w3.eth.block_number >= self.deployment.start_block else None
        if block is None:
            return None
        return ChainIdentity(self.deployment.chain_id, self.deployment.start_block, bytes(block["hash"]))

    def open_state(self, identity: ChainIdentity) -> None:
        """Use the journal and claim cache of `identity` (created when new); other chains' state is reported once
        and never read."""
        root = chain_state_dir(self.config.cache_dir, identity)
        self.identity = identity
        self.journal = Journal(root)
        faults = ",".join(self.config.faults)
        self.claims = ClaimCache(root, sha256(faults.encode()).hexdigest()[:12] if faults else "")
        self.outcomes = Outcomes(root)
        self.responder = WitnessingResponder(self.sender, self.journal, in_flight=self.config.tx_in_flight,
                                             final_depth=self.config.reorg_depth, on_receipt=self._witness_receipt)
        foreign = foreign_state(self.config.cache_dir, identity)
        if foreign:
            self.log.warning("foreign_state_ignored", cache_dir=str(self.config.cache_dir), entries=foreign,
                             chain=identity.name)
        self.log.info("chain_state", chain=identity.name, dir=str(root))

    def _witness_receipt(self, receipt: Any) -> None:
        """The daemon acts on its own receipts before the monitor polls their blocks: the monitor remembers them,
        so that a reorganization dropping them is seen even when it replaced only blocks above the last head."""
        number, block_hash = receipt.get("blockNumber"), receipt.get("blockHash")
        if number is not None and block_hash is not None:
            self.monitor.witness(int(number), bytes(block_hash))

    def forget(self) -> None:
        """Drop everything derived from chain events (it is derived again from the chain)."""
        for name in DERIVED:
            value = getattr(self, name, None)
            if isinstance(value, (dict, set, list)):
                value.clear()
        self.games_in_flight = 0

    async def _chain_changed(self, poll: Poll) -> bool:
        """After a reorganization: re-derive everything; after a chain replacement, also switch the local state.
        False while the deployment's block does not exist (nothing to do on this chain yet)."""
        identity = await asyncio.to_thread(self.chain_identity)
        await self.scheduler.reset()
        self.forget()
        self.monitor.rescan()
        self.sender.forget_nonce()  # the chain's nonce may have gone back: ask it again before the next send
        if identity is not None and identity != self.identity and \
                not await asyncio.to_thread(self.w3.eth.get_code, self.deployment.coordinator):
            identity = None  # a new chain, not deployed (yet)
        if identity is None:
            if not self._missing_reported:
                self.log.warning("deployment_missing", block=self.deployment.start_block, head=poll.head,
                                 coordinator=self.deployment.coordinator)
                self._missing_reported = True
            if self.identity is not None:
                self._previous_identity = self.identity
            self.identity = None
            return False
        self._missing_reported = False
        if identity != self.identity:
            old = self.identity or self._previous_identity
            if old == identity:  # the same chain came back (a node restart): nothing to switch
                self.identity = identity
                return True
            self.metrics.chain_resets.inc()
            self.log.warning("chain_replaced", old=old.name if old else None, new=identity.name)
            self.open_state(identity)
            await asyncio.to_thread(self.responder.reconcile)
        else:
            self.metrics.reorgs.inc()
            self.log.warning("rederiving", fork=poll.fork, head=poll.head)
        return True

    # -- lifecycle ------------------------------------------------------------------------------------------
    def check_chain(self) -> None:
        """Refuse to start against the wrong chain or without code at the coordinator (ConfigError)."""
        chain_id = self.w3.eth.chain_id
        if chain_id != self.deployment.chain_id:
            raise ConfigError(f"{self.config.rpc_url} is chain {chain_id}, the deployment is for chain "
                              f"{self.deployment.chain_id}")
        self._check_code()
        self.check_models()

    def _check_code(self) -> None:
        if not self.w3.eth.get_code(self.deployment.coordinator):
            raise ConfigError(f"no contract at the coordinator address {self.deployment.coordinator}")
        try:
            registry = self.bindings.coordinator.contract.functions.registry().call()
        except (ContractLogicError, ValueError, Web3Exception):
            registry = None
        if registry != self.deployment.registry:
            raise ConfigError(f"{self.deployment.coordinator} is not the deployment's coordinator (it answers no "
                              f"registry, or another one than {self.deployment.registry})")

    def check_funds(self) -> None:
        """Say at start-up when the account cannot pay one bond plus gas (`unfunded`); it keeps running."""
        coordinator = self.bindings.coordinator
        bond = coordinator.submitter_bond() if self.role is Role.SUBMITTER else coordinator.challenger_bond()
        balance = self.w3.eth.get_balance(self.address)
        self.metrics.balance.set(balance)
        if balance < bond + MIN_GAS_WEI:
            self.log.error("unfunded", balance_wei=balance, needed_wei=bond + MIN_GAS_WEI,
                           reason="the account cannot pay one bond plus gas; send it ETH")

    def check_models(self) -> None:
        """Serve only models whose local files match their registered commitment (ConfigError otherwise)."""
        registry = ModelRegistryContract(self.w3, self.deployment.registry)
        for model_id, backend in sorted(self.backends.items()):
            local = backend.model_roots()
            if local is None:
                continue
            try:
                registered = registry.model_roots(model_id)
            except ContractLogicError as exc:
                raise ConfigError(f"model {model_id} is not registered at {self.deployment.registry}: {exc}") from exc
            for name, mine, theirs in zip(("graph", "constants", "kernel set"), local, registered):
                if mine != theirs:
                    raise ConfigError(f"model {model_id}: the local model file does not match the registered "
                                      f"commitment ({name} root 0x{mine.hex()} here, 0x{theirs.hex()} on chain)")
            file_hash = getattr(backend, "file_hash", None)
            registered_hash, uri = registry.model_file(model_id)
            if file_hash is not None and any(registered_hash) and file_hash != registered_hash:
                raise ConfigError(f"model {model_id}: the local model file has keccak256 0x{file_hash.hex()}, the "
                                  f"registry records 0x{registered_hash.hex()} ({uri})")
            self.log.info("model_verified", model=model_id, graph_root=local[0])

    async def run(self) -> None:
        """Run until cancelled."""
        threads = WORKER_THREADS + self.config.tx_in_flight + self.config.active_requests
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads))
        await asyncio.to_thread(self.check_chain)
        identity = await asyncio.to_thread(self.chain_identity)
        if identity is None:
            raise ConfigError(f"the chain has no block {self.deployment.start_block} (the deployment's first)")
        self.open_state(identity)
        await asyncio.to_thread(self.responder.reconcile)
        await asyncio.to_thread(self.check_funds)
        if self.config.metrics_port:
            try:
                self.metrics.serve(self.config.metrics_port)
            except OSError as exc:
                raise ConfigError(f"metrics_port {self.config.metrics_port}: cannot listen on port "
                                  f"{self.config.metrics_port} ({exc.strerror or exc})") from None
        background = [asyncio.create_task(self._follow())]
        broker = await self._broker_address()
        if broker is not None:
            self._bus = Bus(*broker, self.deployment.chain_id, self.config.node_name, self._on_bus)
            background.append(asyncio.create_task(self._bus.run()))
        self.log.info("daemon_started", role=self.role.name.lower(), models=sorted(self.backends),
                      from_block=self.monitor.next_block,
                      broker=self.config.broker_url or (None if broker is None else "mqtt://%s:%d" % broker),
                      embedded_broker=self._embedded is not None)
        try:
            await asyncio.gather(*background)
        finally:
            for task in background:
                task.cancel()
            await self.scheduler.close()
            if self._embedded is not None:
                await self._embedded.stop()

    async def _broker_address(self) -> tuple[str, int] | None:
        """The configured broker; else (unless `embedded_broker` is off) an embedded one on 127.0.0.1, hosted by
        this process, or joined when another node (or a mosquitto) already listens on that port."""
        if self.config.broker is not None or not self.config.embedded_broker:
            return self.config.broker
        port = self.config.embedded_broker_port
        try:
            self._embedded = await EmbeddedBroker(port).start()
        except EmbeddedBrokerError as exc:
            self.log.info("embedded_broker_joined", port=port, reason=str(exc))
        return "127.0.0.1", port

    async def _follow(self) -> None:
        """The one head follower: polls the chain and fans each event out to the tasks it concerns."""
        await self.monitor.run(self._on_poll, self.config.poll_interval_s, self._wake,
                               on_error=lambda exc: self.metrics.rpc_errors.labels("poll").inc())

    async def _on_poll(self, poll: Poll) -> None:
        if poll.fork is not None or self.identity is None:
            await self._chain_changed(poll)  # the next poll reads the logs again from the start block
            return
        self._head_time = poll.time
        self.metrics.head.set(poll.head)
        # requests the same batch closes need no task (a restart reads thousands of finalized ones)
        self.closed.update(e.args["requestId"] for e in poll.events if e.name in CLOSING_EVENTS)
        for event in poll.events:
            if event.name == "RequestCreated":
                args = event.args
                self.inputs[args["requestId"]] = bytes(args["input"])
                self._request_keys[args["requestId"]] = (int(args["modelId"]), bytes(args["anchor"]))
            self.on_event(event)
            self._route(event)
        self.scheduler.ensure("withdraw", self.withdraw_forever)
        self.games_in_flight = sum(1 for k in self.scheduler.running if k.startswith("game-"))
        self.metrics.games_in_flight.set(self.games_in_flight)
        self.metrics.head_lag.set(max(0, poll.head - (self.monitor.next_block - 1)))
        self.metrics.backlog.set(self.scheduler.backlog)
        self.metrics.in_flight.set(self.responder.in_flight)
        self.scheduler.tick(poll.time)
        self._publish_status(poll.head)

    def _route(self, event: ChainEvent) -> None:
        """Wake the tasks `event` concerns: its request's, its submission's, its game's (and the withdrawer)."""
        args = event.args
        if event.name == "Challenged":
            self._game_requests[args["gameId"]] = args["requestId"]
        request_id = args.get("requestId")
        if request_id is None and "gameId" in args:
            request_id = self._game_requests.get(args["gameId"])
        if request_id is not None:
            self.scheduler.wake(f"request-{request_id}")
        if "submissionId" in args:
            self.scheduler.wake(f"submission-{args['submissionId']}")
        if "gameId" in args:
            self.scheduler.wake(f"game-{args['gameId']}")
        if event.name == "ResultSubmitted":
            self.scheduler.wake_at(f"request-{args['requestId']}", int(args["windowEnd"]))
        if event.name in CREDIT_EVENTS:
            self.scheduler.wake("withdraw")

    def _task_failed(self, key: str, exc: BaseException) -> None:
        self.metrics.failures.labels(key.split("-")[0]).inc()
        if isinstance(exc, (OSError, ConnectionError, TimeoutError)) or "RPC" in type(exc).__name__ \
                or "Connection" in type(exc).__name__:
            self.metrics.rpc_errors.labels("task").inc()

    def _on_bus(self, topic: str, payload: bytes) -> None:
        if f"/status/{self.config.node_name}" not in topic:
            self._wake.set()  # another node did something: poll the chain now rather than at the next tick

    def _publish_status(self, head: int) -> None:
        if self._bus is None or time.monotonic() - self._last_status < STATUS_EVERY_S:
            return
        self._last_status = time.monotonic()
        status = NodeStatus(node=self.config.node_name, role=self.role.name.lower(), address=self.address,
                            head=head, games_in_flight=self.games_in_flight,
                            time=time.time())
        self._bus.publish(status_topic(self.deployment.chain_id, self.config.node_name), status, retain=True)

    def publish(self, topic: str, payload: Any) -> None:
        if self._bus is not None:
            self._bus.publish(topic, payload)

    def on_event(self, event: ChainEvent) -> None:
        """React to one confirmed event (subclasses); start tasks through `self.scheduler.ensure`."""
        raise NotImplementedError

    # -- claims ---------------------------------------------------------------------------------------------
    async def claim_for(self, request_id: int) -> Claim | None:
        """This node's result for `request_id`, or None when it does not serve the request's model."""
        if request_id in self._claims:
            return self._claims[request_id]
        keys = self._request_keys.get(request_id)
        if keys is None:  # not seen in an event yet: ask the chain
            request = await asyncio.to_thread(self.bindings.coordinator.get_request, request_id)
            keys = (request.model_id, bytes(request.anchor))
        model_id, anchor = keys
        backend = self.backends.get(model_id)
        if backend is None:
            return None
        data = RequestInput(request_id, model_id, await self._input_of(request_id), anchor)
        cached = self.claims.get(data.model_id, data.anchor)
        if cached is not None:  # computed before (maybe by an earlier run): no inference until a game needs it
            claim = Claim(bytes.fromhex(cached["output"]), bytes.fromhex(cached["output_commitment"]),
                          bytes.fromhex(cached["trace_commitment"]), LazyProvider(lambda: backend.claim(data)),
                          bool(cached.get("runs_vm", False)), lambda: backend.claim(data).refusal())
            self.log.debug("claim_cached", request=request_id)
        else:
            started = time.perf_counter()
            try:
                claim = await asyncio.to_thread(backend.claim, data)
            except BackendError as exc:  # e.g. input bytes that are no tensor of the model: nothing to compute
                self.log.warning("request_unanswerable", request=request_id, reason=str(exc))
                return None
            self.metrics.inference.observe(time.perf_counter() - started)
            self.log.info("claim_computed", request=request_id, seconds=round(time.perf_counter() - started, 4))
            self._check_cache(data, claim)
        claim = replace(claim, refusal=self._remembered_refusal(data, claim.refusal))
        if claim.runs_vm:
            claim = replace(claim, provider=timed_vm(claim.provider, self._observe_vm))
        self._claims[request_id] = claim
        return claim

    def _remembered_refusal(self, data: RequestInput, compute: Callable[[], str | None]) -> Callable[[], str | None]:
        """`compute` (the submitter's check that it could defend the claim: a VM run of every tile) done once per
        claim: its answer is kept with the cached claim, so a restart neither runs it again nor skips it."""
        def refusal() -> str | None:
            cached = self.claims.get(data.model_id, data.anchor) or {}
            if "refusal" in cached:
                return cached["refusal"]
            reason = compute()
            self.claims.note_refusal(data.model_id, data.anchor, reason)
            return reason
        return refusal

    async def constant(self, name: str, read: Callable[[], int]) -> int:
        """An immutable value of the deployment (`read()` once per chain; e.g. the coordinator's bonds)."""
        if name not in self._constants:
            self._constants[name] = await asyncio.to_thread(read)
        return self._constants[name]

    def _observe_vm(self, call: str, seconds: float) -> None:
        self.metrics.vm.labels(call).observe(seconds)

    async def _input_of(self, request_id: int) -> bytes:
        if request_id not in self.inputs:
            event = self.bindings.coordinator.contract.events.RequestCreated
            logs = await asyncio.to_thread(event.get_logs, argument_filters={"requestId": request_id},
                                           from_block=self.deployment.start_block)
            self.inputs[request_id] = bytes(logs[0]["args"]["input"]) if logs else b""
        return self.inputs[request_id]

    def _check_cache(self, data: RequestInput, claim: Claim) -> None:
        cached = self.claims.get(data.model_id, data.anchor)
        if cached is None:
            self.claims.put(data.model_id, data.anchor, claim.output, claim.output_commitment, claim.trace_commitment,
                            claim.runs_vm)
        elif cached["output_commitment"] != claim.output_commitment.hex():
            self.log.error("claim_changed", request=data.request_id, cached=cached["output_commitment"],
                           now=claim.output_commitment.hex())

    # -- games ----------------------------------------------------------------------------------------------
    async def play_game(self, game_id: int) -> None:
        """Play `game_id` (if this node is a party) until it is over and settled."""
        view = await asyncio.to_thread(self.player.read, game_id)
        role = self.player.role_in(view)
        if role is None:
            return
        claim = await self.claim_for(view.request_id)
        if claim is None:
            self.log.warning("game_model_not_served", game=game_id, request=view.request_id)
            return
        log = self.log.bind(game=game_id, request=view.request_id, role=role.name.lower())
        if self._game_done(view, role):  # over before this run saw it play: counted by the run that did, unless
            # that run moved in it and was killed before recording the end (e.g. its last move mined meanwhile)
            if self.journal.get(f"game-{game_id}") is not None and not self.outcomes.recorded(game_id):
                self._record_outcome(view, role, log)
            else:
                log.debug("game_already_over", phase=view.phase.name)
            return
        log.info("game_joined", phase=view.phase.name)
        while True:
            turn = await asyncio.to_thread(self.player.turn, game_id, role, claim.provider)
            if self._game_done(turn.view, role):
                self._record_outcome(turn.view, role, log)
                return
            if turn.waits:
                await self.scheduler.news(self.config.poll_interval_s * 5)
                continue
            await self._move(turn.view, turn.action, turn.fingerprint, log)

    async def _move(self, view: GameView, action: Action, fingerprint: str, log: Any) -> None:
        name = type(action).__name__
        outcome = await self.responder.send(f"game-{view.game_id}", fingerprint, self.bindings.call_for(action),
                                            label=name)
        if outcome.mined:
            self.metrics.moves.labels(name).inc()
            if isinstance(action, Step):
                self.metrics.steps.inc()
            log.info("move_sent", action=name, phase=view.phase.name, depth=view.depth, lo=view.lo, hi=view.hi,
                     gas=outcome.gas_used)
            self.publish(dispute_topic(self.deployment.chain_id, view.game_id), DisputeNote(
                game_id=view.game_id, request_id=view.request_id, phase=view.phase.name, depth=view.depth,
                lo=view.lo, hi=view.hi, mover=self.address, action=name))
        elif outcome.status in ("rejected", "reverted"):
            self.metrics.rejected.labels(name).inc()
            if not isinstance(action, ClaimTimeout):
                log.warning("move_refused", action=name, status=outcome.status, error=outcome.error)
            await self.scheduler.news(self.config.poll_interval_s * 5)
        else:
            await self.scheduler.news(self.config.poll_interval_s)

    @staticmethod
    def _game_done(view: GameView, role: Role) -> bool:
        if view.phase.is_over and view.settled:
            return True
        return view.moot and role is Role.SUBMITTER  # the challenger releases it; nothing at stake for us

    def _record_outcome(self, view: GameView, role: Role, log: Any) -> None:
        winner = view.phase.winner
        if winner is role:
            self.metrics.games_won.inc()
        elif winner is not None:
            self.metrics.games_lost.inc()
        self.outcomes.put(view.game_id, view.phase.name, winner is role)  # before the log: recorded at most once
        log.info("game_over", phase=view.phase.name, won=winner is role, moot=view.moot)

    # -- money ----------------------------------------------------------------------------------------------
    async def withdraw_forever(self) -> None:
        """Withdraw the coordinator credit (won bonds, fees, returned bonds) whenever there is some."""
        while True:
            balance = await asyncio.to_thread(self.bindings.coordinator.balance_of, self.address)
            self.metrics.balance.set(await asyncio.to_thread(self.w3.eth.get_balance, self.address))
            if balance > 0:
                nonce = await asyncio.to_thread(self.w3.eth.get_transaction_count, self.address, "latest")
                outcome = await self.responder.send("withdraw", f"{balance}:{nonce}",
                                                    self.bindings.coordinator.withdraw(), label="withdraw")
                if outcome.mined:
                    # the amount paid is what the Withdrawn event says, not the balance read before sending: a
                    # credit that landed meanwhile (a finalization mined first) went out with this withdrawal
                    paid = balance if outcome.receipt is None else sum(
                        int(e["amount"]) for e in self.bindings.coordinator.events("Withdrawn", outcome.receipt)
                        if str(e["account"]).lower() == self.address.lower())
                    self.metrics.withdrawn.inc(paid)
                    self.log.info("withdrawn", amount=paid)
            # a credit comes with an event (CREDIT_EVENTS wake this task): the timeout is only a safety net
            await self.scheduler.news(WITHDRAW_CHECK_S)

    async def chain_time(self) -> int:
        """The latest head's timestamp (as the head follower last saw it; read from the chain before that)."""
        if self._head_time is not None:
            return self._head_time
        block = await asyncio.to_thread(self.w3.eth.get_block, "latest")
        return int(block["timestamp"])


class WitnessingResponder(Responder):
    """A Responder that hands the receipt of every transaction it saw mined to `on_receipt` before its caller
    acts on it."""

    def __init__(self, *args: Any, on_receipt: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_receipt = on_receipt

    async def send(self, key: str, fingerprint: str, call: Any, *, value: int = 0, label: str = "") -> Outcome:
        outcome = await super().send(key, fingerprint, call, value=value, label=label)
        if hasattr(outcome.receipt, "get"):
            self._on_receipt(outcome.receipt)
        return outcome


class LazyProvider(TraceProvider):
    """A request-level trace provider computed on first use (`make()` returns the backend's claim): a claim read
    from the cache answers submissions and checks without inference; only a dispute needs the trace."""

    def __init__(self, make: Callable[[], Claim]) -> None:
        self._make = make
        self._inner: TraceProvider | None = None

    def _provider(self) -> TraceProvider:
        if self._inner is None:
            self._inner = self._make().provider
        return self._inner

    @property
    def length(self) -> int:
        return self._provider().length

    @property
    def is_last_level(self) -> bool:
        return self._provider().is_last_level

    def root_at(self, i: int) -> bytes:
        return self._provider().root_at(i)

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        return self._provider().open_next(k)

    def step_witness(self, k: int) -> StepWitness:
        return self._provider().step_witness(k)
