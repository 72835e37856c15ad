"""Typed bindings over the compiled ABIs of `DisputeGame`, `Coordinator` and `ModelRegistry` (docs/game.md).

Writes return bound contract calls for `TxSender.send`; reads return plain values; `read_game` assembles the
`GameView` the solver plays on from the game's state, its checkpoints, its `LevelOpened` logs and the
coordinator's view of the challenge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.types import RPCEndpoint

from opml.chain.build import OUT_DIR, ensure_built, load_artifact
from opml.chain.events import EventDecoder
from opml.chain.tx import ErrorDecoder
from opml.chain.views import ViewAbi
from opml.game.types import (Action, ClaimTimeout, GameView, OpenLevel, Phase, PickSegment, PostCheckpoints,
                             ReleaseGame, Step)


class BindingError(Exception):
    """A binding was asked for something the contracts do not have (unknown game, unsendable action)."""


class SubmissionStatus(IntEnum):
    NONE = 0
    PENDING = 1
    SLASHED = 2
    FINALIZED = 3


class RequestStatus(IntEnum):
    NONE = 0
    OPEN = 1
    SUBMITTED = 2
    FINALIZED = 3
    CANCELLED = 4


@dataclass(frozen=True)
class GameState:
    """`DisputeGame.getGame` decoded."""

    request_id: int
    submission_id: int
    submitter: str
    challenger: str
    phase: Phase
    depth: int
    lo: int
    hi: int
    root_lo: bytes
    root_hi: bytes
    context: bytes
    trace_commitment: bytes
    submitter_time_left: int
    challenger_time_left: int
    last_move_at: int


@dataclass(frozen=True)
class Submission:
    """`Coordinator.getSubmission` decoded."""

    request_id: int
    submitter: str
    output_commitment: bytes
    trace_commitment: bytes
    window_end: int
    open_games: int
    status: SubmissionStatus
    output: bytes


@dataclass(frozen=True)
class Request:
    """`Coordinator.getRequest` decoded."""

    requester: str
    created_at: int
    model_id: int
    fee: int
    input_commitment: bytes
    anchor: bytes
    callback: str
    callback_gas_limit: int
    status: RequestStatus
    active_submission: int
    callback_failed: bool


@dataclass(frozen=True)
class Challenge:
    """`Coordinator.getChallenge` decoded."""

    submission_id: int
    challenger: str
    settled: bool


T = TypeVar("T")


def _view(name: str, result: Callable[[Any], T]) -> Callable[..., T]:
    """A binding method: the contract's view `name` called with the method's arguments, its value as `result`."""

    def call(self: _Binding, *args: Any) -> T:
        return result(self._read(name, *args))

    call.__doc__ = f"`{name}` of the contract, as {result.__name__}."
    return call


class _Binding:
    """One deployed contract of the compiled artifact `ARTIFACT`: `contract`, its `address`, and its events
    decoded from a receipt."""

    ARTIFACT = ""

    def __init__(self, w3: Web3, address: str) -> None:
        self.contract = w3.eth.contract(address=Web3.to_checksum_address(address),
                                        abi=load_artifact(self.ARTIFACT).abi)
        self.address = self.contract.address
        self._fn = self.contract.functions
        self._views: dict[str, ViewAbi] = {}
        self._decoder: EventDecoder | None = None

    def _read(self, name: str, *args: Any) -> Any:
        """The view `name(*args)` on the latest block, as `contract.functions.name(*args).call()` returns it (one
        output unwrapped, addresses checksummed; reverts raise the same errors), with the calldata encoded and
        the result decoded from the ABI directly (`views.ViewAbi`) and the call sent to the provider as it is:
        web3's contract-call path costs about four times the CPU, and a node reads a request and its submission
        per request it answers. An error reply or an empty answer is asked again through web3, which raises it
        as it always does."""
        view = self._views.get(name)
        if view is None:
            view = self._views[name] = ViewAbi.of(self.contract.get_function_by_name(name).abi)
        w3 = self.contract.w3
        call = {"to": self.address, "data": view.calldata(args)}
        result = w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"]).get("result")
        raw = bytes.fromhex(result[2:]) if isinstance(result, str) else w3.eth.call(call)
        if not raw and view.output_types:  # no code there (or it returned nothing): web3 says so in its words
            return getattr(self._fn, name)(*args).call()
        values = view.answer(raw)
        return values[0] if len(values) == 1 else values

    def events(self, event: str, receipt: Any) -> list[dict[str, Any]]:
        """The decoded args of every `event` of this contract in a receipt, as web3's `process_receipt` gives them
        (other contracts' logs, and logs that do not decode, ignored)."""
        if self._decoder is None:
            self._decoder = EventDecoder([self.contract])
        if event not in self._decoder.names:
            raise BindingError(f"{self.ARTIFACT} has no event {event}")
        found = []
        for log in receipt["logs"]:
            try:
                decoded = self._decoder.decode(log)
            except DecodingError:
                continue
            if decoded is not None and decoded.name == event:
                found.append(decoded.args)
        return found


class DisputeGameContract(_Binding):
    """The `DisputeGame` contract: moves, views, and event decoding."""

    ARTIFACT = "DisputeGame"

    # moves (bound calls)
    def open_level(self, game_id: int, sub_end: bytes, sub_length: int, proof: bytes,
                   checkpoints: tuple[bytes, ...] = ()) -> Any:
        return self._fn.openLevel(game_id, sub_end, sub_length, proof, list(checkpoints))

    def bisect(self, game_id: int, checkpoints: tuple[bytes, ...]) -> Any:
        return self._fn.bisect(game_id, list(checkpoints))

    def pick(self, game_id: int, segment: int) -> Any:
        return self._fn.pick(game_id, segment)

    def step(self, game_id: int, state_data: bytes, proof_data: bytes) -> Any:
        return self._fn.step(game_id, state_data, proof_data)

    def claim_timeout(self, game_id: int) -> Any:
        return self._fn.claimTimeout(game_id)

    # views
    def get_game(self, game_id: int) -> GameState:
        raw = self._fn.getGame(game_id).call()
        if raw[4] == Phase.NONE.value:
            raise BindingError(f"no game {game_id} at {self.address}")
        return GameState(raw[0], raw[1], raw[2], raw[3], Phase(raw[4]), *raw[5:])

    def checkpoints_of(self, game_id: int) -> tuple[bytes, ...]:
        return tuple(bytes(r) for r in self._fn.checkpointsOf(game_id).call())

    num_levels = _view("numLevels", int)
    checkpoint_count = _view("checkpointCount", int)
    clock_seconds = _view("clockSeconds", int)
    game_count = _view("gameCount", int)
    deadline = _view("deadline", int)  # (game_id): the last time the party on the clock may still move

    def openings(self, game_id: int, from_block: int = 0) -> tuple[int, ...]:
        """The parent transition of every level opened in `game_id`, level 0 first (from `LevelOpened` logs)."""
        logs = self.contract.events.LevelOpened.get_logs(argument_filters={"gameId": game_id},
                                                         from_block=from_block)
        by_level = {log["args"]["level"]: log["args"]["parentIndex"] for log in logs}
        if sorted(by_level) != list(range(len(by_level))):
            raise BindingError(f"game {game_id}: LevelOpened logs for levels {sorted(by_level)} are not contiguous")
        return tuple(by_level[level] for level in range(len(by_level)))


class CoordinatorContract(_Binding):
    """The `Coordinator` contract: requests, results, challenges, settlement and withdrawals."""

    ARTIFACT = "Coordinator"

    # writes (bound calls; `request`/`submit`/`challenge` need `value=` on send)
    def request(self, model_id: int, input_: bytes, callback: str | None = None, callback_gas_limit: int = 0) -> Any:
        target = callback or "0x0000000000000000000000000000000000000000"
        return self._fn.request(model_id, input_, Web3.to_checksum_address(target), callback_gas_limit)

    def submit(self, request_id: int, output: bytes, trace_commitment: bytes) -> Any:
        return self._fn.submit(request_id, output, trace_commitment)

    def challenge(self, request_id: int) -> Any:
        return self._fn.challenge(request_id)

    def finalize(self, request_id: int) -> Any:
        return self._fn.finalize(request_id)

    def release_game(self, game_id: int) -> Any:
        return self._fn.releaseGame(game_id)

    def cancel_request(self, request_id: int) -> Any:
        return self._fn.cancelRequest(request_id)

    def withdraw(self) -> Any:
        return self._fn.withdraw()

    # views
    submitter_bond = _view("submitterBond", int)
    challenger_bond = _view("challengerBond", int)
    burn_bps = _view("burnBps", int)
    burn_address = _view("burnAddress", str)
    challenge_window = _view("challengeWindow", int)
    request_timeout = _view("requestTimeout", int)
    deadline_of = _view("deadlineOf", int)  # (request_id): from when the requester may cancel it while open
    game_address = _view("game", str)
    registry_address = _view("registry", str)
    last_slashed = _view("lastSlashed", int)  # (request_id): 0, or the submission a new result waits behind

    def balance_of(self, account: str) -> int:
        return self._read("balanceOf", Web3.to_checksum_address(account))

    def get_request(self, request_id: int) -> Request:
        raw = self._read("getRequest", request_id)
        return Request(*raw[:8], RequestStatus(raw[8]), *raw[9:])

    def get_submission(self, submission_id: int) -> Submission:
        raw = self._read("getSubmission", submission_id)
        return Submission(*raw[:6], SubmissionStatus(raw[6]), bytes(raw[7]))

    def get_challenge(self, game_id: int) -> Challenge:
        return Challenge(*self._read("getChallenge", game_id))


class ModelRegistryContract(_Binding):
    """The `ModelRegistry` contract (the parts the game tests and nodes use)."""

    ARTIFACT = "ModelRegistry"

    def register_model(self, graph_root: bytes, constants_root: bytes, kernel_set_root: bytes, metadata_uri: str,
                       fee: int) -> Any:
        return self._fn.registerModel(graph_root, constants_root, kernel_set_root, metadata_uri, fee)

    def register_model_file(self, graph_root: bytes, constants_root: bytes, kernel_set_root: bytes, file_uri: str,
                            fee: int, input_bytes: int, output_bytes: int, file_hash: bytes) -> Any:
        return self._fn.registerModelFile(graph_root, constants_root, kernel_set_root, file_uri, fee, input_bytes,
                                          output_bytes, file_hash)

    def model_sizes(self, model_id: int) -> tuple[int, int]:
        """(inputBytes, outputBytes) a request's input and a result's output must have (0: any length)."""
        input_bytes, output_bytes = self._fn.modelSizes(model_id).call()
        return int(input_bytes), int(output_bytes)

    def model_file(self, model_id: int) -> tuple[bytes, str]:
        """(fileHash, fileURI): the model file's keccak256 (zero if none was registered) and where to fetch it."""
        file_hash, uri = self._fn.modelFile(model_id).call()
        return bytes(file_hash), str(uri)

    def model_roots(self, model_id: int) -> tuple[bytes, bytes, bytes]:
        """(graphRoot, constantsRoot, kernelSetRoot) as registered; reverts `UnknownModel` for an unknown id."""
        graph, constants, kernels, _fee = self._fn.modelRoots(model_id).call()
        return bytes(graph), bytes(constants), bytes(kernels)


class GameBindings:
    """The contracts games are played on, and the translation of solver actions into calls."""

    def __init__(self, game: DisputeGameContract, coordinator: CoordinatorContract, from_block: int = 0) -> None:
        """`from_block`: no game event is older (the deployment block); log queries start there."""
        self.game = game
        self.coordinator = coordinator
        self.from_block = from_block
        self._num_levels = game.num_levels()
        self._checkpoint_count = game.checkpoint_count()
        self._errors: ErrorDecoder | None = None

    @classmethod
    def at(cls, w3: Web3, coordinator_address: str, from_block: int = 0) -> GameBindings:
        """Bindings for the coordinator at `coordinator_address` and the game it drives."""
        coordinator = CoordinatorContract(w3, coordinator_address)
        return cls(DisputeGameContract(w3, coordinator.game_address()), coordinator, from_block)

    def errors(self) -> ErrorDecoder:
        """Revert decoder for every custom error of the game stack (verifiers' errors arrive wrapped in
        `LinkProofInvalid(bytes)`/`StepWitnessInvalid(bytes)`; decode the inner bytes with the same decoder)."""
        if self._errors is None:
            self._errors = _stack_errors()
        return self._errors

    def read_game(self, game_id: int) -> GameView:
        """The game as the solver sees it, read at the latest block."""
        state = self.game.get_game(game_id)
        submission = self.coordinator.get_submission(state.submission_id)
        if submission.status is SubmissionStatus.SLASHED and not state.phase.is_over:
            # the two reads may straddle a block: read the game again after the slash, which, when this game
            # made it, is over by now (else a lost game would pass for one made moot by another game)
            state = self.game.get_game(game_id)
        challenge = self.coordinator.get_challenge(game_id)
        return GameView(
            game_id=game_id, phase=state.phase, depth=state.depth, num_levels=self._num_levels,
            lo=state.lo, hi=state.hi, root_lo=bytes(state.root_lo), root_hi=bytes(state.root_hi),
            checkpoints=self.game.checkpoints_of(game_id) if state.phase is Phase.PICK else (),
            checkpoint_count=self._checkpoint_count, submitter_time_left=state.submitter_time_left,
            challenger_time_left=state.challenger_time_left, last_move_at=state.last_move_at,
            openings=self.game.openings(game_id, self.from_block) if state.depth else (),
            submitter=state.submitter, challenger=state.challenger, request_id=state.request_id,
            submission_id=state.submission_id,
            moot=submission.status is SubmissionStatus.SLASHED and not state.phase.is_over,
            settled=challenge.settled,
        )

    def call_for(self, action: Action) -> Any:
        """The bound contract call that performs `action`."""
        g = self.game
        match action:
            case OpenLevel():
                return g.open_level(action.game_id, action.sub_end, action.sub_length, action.proof,
                                    action.checkpoints)
            case PostCheckpoints():
                return g.bisect(action.game_id, action.roots)
            case PickSegment():
                return g.pick(action.game_id, action.segment)
            case Step():
                return g.step(action.game_id, action.state_data, action.proof_data)
            case ClaimTimeout():
                return g.claim_timeout(action.game_id)
            case ReleaseGame():
                return self.coordinator.release_game(action.game_id)
        raise BindingError(f"{type(action).__name__} is not a transaction")


@dataclass(frozen=True)
class StackParams:
    """The deployment's constants: the coordinator's bonds, burn share and windows, the game's clock and shape."""

    submitter_bond: int
    challenger_bond: int
    burn_bps: int
    challenge_window: int
    request_timeout: int
    clock_seconds: int
    checkpoint_count: int
    num_levels: int


def read_params(game: DisputeGameContract, coordinator: CoordinatorContract) -> StackParams:
    """The deployment's constants, read from its two contracts."""
    return StackParams(
        submitter_bond=coordinator.submitter_bond(), challenger_bond=coordinator.challenger_bond(),
        burn_bps=coordinator.burn_bps(), challenge_window=coordinator.challenge_window(),
        request_timeout=coordinator.request_timeout(), clock_seconds=game.clock_seconds(),
        checkpoint_count=game.checkpoint_count(), num_levels=game.num_levels())


def _stack_errors() -> ErrorDecoder:
    """Every custom error of every built contract: a game move may revert in the game, the coordinator, or a
    level or step verifier (wrapped), whichever verifiers the deployment uses."""
    ensure_built()
    return ErrorDecoder.from_abis(*(load_artifact(p.stem).abi for p in sorted(OUT_DIR.glob("*.json"))))
