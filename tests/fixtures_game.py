"""Game fixtures: the contract stack (ModelRegistry, DisputeGame with toy levels, Coordinator) deployed on the
worker's Anvil, and a small driver that reads games into solver views and sends the solver's moves.

The stack is deployed through the package's own `opml.stacks.deploy.deploy_game`. Reading and playing a game is
deliberately written again here, with raw web3 calls (the `getGame` tuple by position, `LevelOpened` logs, one
contract call per solver action) instead of `opml.chain.bindings` and `opml.stacks.driver`: it is an independent
oracle, so the contract tests do not rest on the decoding they also check, and a bindings or driver bug shows up
as a disagreement between the two instead of passing on both sides.

The stacks are session fixtures (deployed before any test's snapshot); tests take `isolated_chain` too, so each
starts from the freshly deployed state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from opml.chain.build import load_artifact
from opml.chain.contracts import deploy
from opml.chain.tx import ContractRevert, ErrorDecoder, revert_data
from opml.game.solver import next_action
from opml.game.toy import ToyTrace, project, tagged_encoding
from opml.game.trace import TraceProvider
from opml.game.types import (Action, ClaimTimeout, GameView, OpenLevel, Phase, PickSegment, PostCheckpoints,
                             ReleaseGame, Role, Step, Wait)
from opml.hashing import keccak
from opml.stacks.deploy import BURN_ADDRESS, deploy_game  # noqa: F401 (BURN_ADDRESS re-exported)
from opml.stacks.toy import ToyStackConfig


# Deployment parameters of one game stack (toy levels: one ToyLinkVerifier per level), as the package deploys them.
StackConfig = ToyStackConfig


@dataclass
class GameStack:
    """The deployed contracts, the named accounts and the registered toy model."""

    w3: Web3
    config: StackConfig
    registry: Contract
    game: Contract
    coordinator: Contract
    commitment: Contract
    step_verifier: Contract
    link_verifiers: list[Contract]
    model_id: int
    errors: ErrorDecoder
    accounts: dict[str, str] = field(default_factory=dict)
    fees_paid: dict[str, int] = field(default_factory=dict)  # gas fees per sender, of transactions sent by `send`

    def __getattr__(self, role: str) -> str:
        """A named account's address: `stack.admin`, `.requester`, `.submitter`, `.challenger`, `.other`,
        `.challenger2` (the keys of `accounts`)."""
        accounts = self.__dict__.get("accounts", {})
        if role not in accounts:
            raise AttributeError(f"GameStack has no attribute or account {role!r}")
        return accounts[role]


def deploy_stack(w3: Web3, config: StackConfig = StackConfig(), *, link_verifiers: list[Contract] | None = None,
                 step_verifier: Contract | None = None, commitment: Contract | None = None) -> GameStack:
    """Deploys the stack and registers one model; accounts are Anvil's dev accounts 0..5.

    The levels default to one ToyLinkVerifier per `config.level_lengths` entry, the step to ToyStepVerifier, the
    commitment to KeccakCommitment (the ML levels pass their own three, e.g. `deploy_level_contracts`).
    """
    names = ("admin", "requester", "submitter", "challenger", "challenger2", "other")
    accounts = dict(zip(names, w3.eth.accounts[: len(names)]))
    admin = accounts["admin"]
    links = link_verifiers or [deploy(w3, "ToyLinkVerifier", n, sender=admin) for n in config.level_lengths]
    step_verifier = step_verifier or deploy(w3, "ToyStepVerifier", sender=admin)
    commitment = commitment or deploy(w3, "KeccakCommitment", sender=admin)
    contracts = deploy_game(w3, config, [c.address for c in links], config.max_depths, step_verifier.address,
                            lambda _: commitment.address, admin)
    registry, game, coordinator = contracts.registry, contracts.game, contracts.coordinator
    toy_abis = [_artifact_abi("ToyLinkVerifier"), _artifact_abi("ToyStepVerifier")]
    errors = ErrorDecoder.from_abis(registry.abi, game.abi, coordinator.abi, step_verifier.abi,
                                    *(c.abi for c in links), *toy_abis)
    stack = GameStack(w3, config, registry, game, coordinator, commitment, step_verifier, links, 0, errors,
                      accounts)
    stack.model_id = register_model(stack)
    return stack


def _artifact_abi(name: str) -> list[dict[str, Any]]:
    return load_artifact(name).abi


def register_model(stack: GameStack) -> int:
    """Registers a toy model owned by the admin; returns its id."""
    roots = [keccak(f"toy.{name}".encode()) for name in ("graph", "constants", "kernels")]
    receipt = send(stack, stack.registry.functions.registerModel(*roots, "ipfs://toy", stack.config.model_fee),
                   stack.admin)
    (event,) = events(stack.registry.events.ModelRegistered, receipt)
    return event["modelId"]


ML_STACK_CONFIG = StackConfig(level_lengths=(), max_depths=(8, 16, 32), checkpoint_count=15, clock_seconds=3_600,
                              require_sizes=True)


def deploy_ml_game_stack(w3: Web3, commitment: Any, metadata_uri: str,
                         config: StackConfig = ML_STACK_CONFIG) -> GameStack:
    """A game stack on the ML levels (tensor commitment, the three link verifiers, MIPS) with one model registered
    by its ModelCommitment (roots, exact input/output sizes, model file hash); `stack.model_id` is that model."""
    from opml.stacks.ml import deploy_level_contracts, model_file_hash

    levels = deploy_level_contracts(w3, w3.eth.accounts[0])
    stack = deploy_stack(w3, config, link_verifiers=list(levels.links), step_verifier=levels.step,
                         commitment=levels.commitment)
    call = stack.registry.functions.registerModelFile(*commitment.roots, metadata_uri, config.model_fee,
                                                      *commitment.io_bytes, model_file_hash(commitment.model))
    receipt = send(stack, call, stack.admin)
    (registered,) = events(stack.registry.events.ModelRegistered, receipt)
    stack.model_id = registered["modelId"]
    return stack


# -- transactions ---------------------------------------------------------------------------------------------
def send(stack: GameStack, call: Any, sender: str, value: int = 0, gas: int | None = None) -> Any:
    """Sends `call` from the unlocked `sender`; returns the receipt. A revert raises ContractRevert (decoded),
    whether the gas estimate reverted or the mined transaction did (its revert data read from a trace)."""
    tx: dict[str, Any] = {"from": sender, "value": value}
    if gas is not None:
        tx["gas"] = gas
    try:
        tx_hash = call.transact(tx)
    except ContractLogicError as exc:
        raise stack.errors.decode(revert_data(exc) or b"") from exc
    receipt = stack.w3.eth.wait_for_transaction_receipt(tx_hash)
    stack.fees_paid[sender] = stack.fees_paid.get(sender, 0) + fee_paid(receipt)
    if receipt["status"] != 1:
        revert = stack.errors.decode(_mined_revert_data(stack.w3, tx_hash))
        revert.tx_hash, revert.gas_used, revert.fee_wei = bytes(tx_hash), receipt["gasUsed"], fee_paid(receipt)
        raise revert
    return receipt


def _mined_revert_data(w3: Web3, tx_hash: bytes) -> bytes:
    """The revert data of a mined, reverted transaction (Anvil's debug_traceTransaction `returnValue`).

    Replaying it as a call would not do: a call runs with another block's timestamp than the one it was mined in.
    """
    options = {"disableStorage": True, "disableStack": True, "disableMemory": True}
    trace = w3.provider.make_request("debug_traceTransaction", [Web3.to_hex(tx_hash), options])["result"]
    return bytes.fromhex(str(trace.get("returnValue", "")).removeprefix("0x"))


def events(event: Any, receipt: Any) -> list[dict[str, Any]]:
    """The args of every `event` (e.g. `stack.game.events.GameResolved`) in `receipt`; other logs are skipped."""
    return [log["args"] for log in event().process_receipt(receipt, errors=DISCARD)]


def fee_paid(receipt: Any) -> int:
    """Wei the sender paid for gas."""
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def expect_revert(stack: GameStack, call: Any, sender: str, name: str, value: int = 0) -> ContractRevert:
    """Asserts that sending `call` reverts with the custom error `name` (its selector checked); returns it."""
    with pytest.raises(ContractRevert) as info:
        send(stack, call, sender, value)
    revert = info.value
    assert revert.name == name, f"expected {name}, got {revert.name}{revert.arguments}"
    assert revert.data[:4] == selector_of(stack, name)
    return revert


def selector_of(stack: GameStack, name: str) -> bytes:
    """The 4-byte selector of the custom error `name` declared in one of the stack's ABIs."""
    abis = [stack.registry.abi, stack.game.abi, stack.coordinator.abi, stack.step_verifier.abi,
            *(c.abi for c in stack.link_verifiers), _artifact_abi("ToyLinkVerifier"), _artifact_abi("ToyStepVerifier")]
    for abi in abis:
        for entry in abi:
            if entry.get("type") == "error" and entry["name"] == name:
                types = ",".join(i["type"] for i in entry["inputs"])
                return function_signature_to_4byte_selector(f"{name}({types})")
    raise KeyError(name)


def advance_time(w3: Web3, seconds: int) -> None:
    """Moves the chain's clock forward and mines a block at the new time."""
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def set_next_timestamp(w3: Web3, timestamp: int) -> None:
    """The next mined block gets exactly this timestamp."""
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


# -- requests and results -------------------------------------------------------------------------------------
class RequestAbove:
    """The request level above one toy-linked level (what `submit` posts and level 0 opens): one transition from
    the anchor to the projection of the level's end, toy.proj(end, length)."""

    length = 1
    is_last_level = False

    def __init__(self, anchor: bytes, level: TraceProvider) -> None:
        self._anchor, self._level = anchor, level

    def root_at(self, i: int) -> bytes:
        return self._anchor if i == 0 else project(self._level.root_at(self._level.length), self._level.length)

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        return self._level, b""

    def claim_preimage(self, i: int) -> bytes:
        return tagged_encoding("toy.proj", self._level.root_at(self._level.length), self._level.length)


def request(stack: GameStack, input_bytes: bytes = b"toy input", callback: str | None = None,
            gas_limit: int = 0, fee: int | None = None) -> tuple[int, Any]:
    """Creates a request from the requester; returns (requestId, receipt)."""
    fee = stack.config.model_fee if fee is None else fee
    call = stack.coordinator.functions.request(
        stack.model_id, input_bytes, callback or "0x" + "00" * 20, gas_limit
    )
    receipt = send(stack, call, stack.requester, fee)
    (event,) = events(stack.coordinator.events.RequestCreated, receipt)
    return event["requestId"], receipt


CALLBACK_GAS = 200_000


def example_consumer(stack: GameStack) -> Contract:
    """A fresh ExampleConsumer of the stack's model, called back with CALLBACK_GAS."""
    return deploy(stack.w3, "ExampleConsumer", stack.coordinator.address, stack.model_id, CALLBACK_GAS)


def ask_through(stack: GameStack, consumer: Contract, input_bytes: bytes = b"toy input") -> int:
    """The requester asks through the ExampleConsumer `consumer` (paying the model fee); returns the request id
    of the consumer's InferenceRequested."""
    receipt = send(stack, consumer.functions.ask(input_bytes), stack.requester, stack.config.model_fee)
    (asked,) = events(consumer.events.InferenceRequested, receipt)
    return asked["requestId"]


def anchor_of(stack: GameStack, request_id: int) -> bytes:
    return bytes(stack.coordinator.functions.getRequest(request_id).call()[5])


_HONEST: dict[tuple[bytes, tuple[int, ...]], ToyTrace] = {}


def toy_trace(stack: GameStack, request_id: int, faults: frozenset = frozenset()) -> ToyTrace:
    """A party's request-level toy provider for `request_id` (honest without faults; honest ones are shared,
    since a 2^20-step trace takes seconds to compute)."""
    key = (anchor_of(stack, request_id), stack.config.level_lengths)
    if faults:
        return ToyTrace.request(*key, faults)
    if key not in _HONEST:
        _HONEST[key] = ToyTrace.request(*key)
    return _HONEST[key]


def submit(stack: GameStack, request_id: int, trace: TraceProvider, sender: str | None = None) -> tuple[int, Any]:
    """Submits the result `trace` claims (its output bytes and level-0 end root); returns (submissionId, receipt)."""
    output = trace.claim_preimage(1)
    level0, _ = trace.open_next(0)
    call = stack.coordinator.functions.submit(request_id, output, level0.root_at(level0.length))
    receipt = send(stack, call, sender or stack.submitter, stack.config.submitter_bond)
    (event,) = events(stack.coordinator.events.ResultSubmitted, receipt)
    return event["submissionId"], receipt


def challenge(stack: GameStack, request_id: int, sender: str | None = None) -> tuple[int, Any]:
    """Challenges the active result; returns (gameId, receipt)."""
    call = stack.coordinator.functions.challenge(request_id)
    receipt = send(stack, call, sender or stack.challenger, stack.config.challenger_bond)
    (event,) = events(stack.coordinator.events.Challenged, receipt)
    return event["gameId"], receipt


# -- reading a game -------------------------------------------------------------------------------------------
def read_view(stack: GameStack, game_id: int) -> GameView:
    """The game as the solver sees it: contract state, checkpoints, openings (from LevelOpened logs), settlement."""
    g = stack.game.functions.getGame(game_id).call()
    (request_id, submission_id, submitter, challenger, phase, depth, lo, hi, root_lo, root_hi, _context,
     _trace, submitter_left, challenger_left, last_move_at) = g
    logs = stack.game.events.LevelOpened().get_logs(from_block=0, argument_filters={"gameId": game_id})
    openings = tuple(log["args"]["parentIndex"] for log in sorted(logs, key=lambda l: l["args"]["level"]))
    submission = stack.coordinator.functions.getSubmission(submission_id).call()
    settled = stack.coordinator.functions.getChallenge(game_id).call()[2]
    return GameView(
        game_id=game_id, phase=Phase(phase), depth=depth,
        num_levels=stack.game.functions.numLevels().call(), lo=lo, hi=hi, root_lo=bytes(root_lo),
        root_hi=bytes(root_hi),
        checkpoints=tuple(bytes(c) for c in stack.game.functions.checkpointsOf(game_id).call())
        if Phase(phase) is Phase.PICK else (),
        checkpoint_count=stack.config.checkpoint_count, submitter_time_left=submitter_left,
        challenger_time_left=challenger_left, last_move_at=last_move_at, openings=openings,
        submitter=submitter, challenger=challenger, request_id=request_id, submission_id=submission_id,
        moot=submission[6] == 2, settled=settled,
    )


# -- playing --------------------------------------------------------------------------------------------------
def action_call(stack: GameStack, action: Action) -> Any:
    """The contract call that carries out `action`."""
    game = stack.game.functions
    match action:
        case OpenLevel(game_id=g, sub_end=end, sub_length=n, proof=proof, checkpoints=cps):
            return game.openLevel(g, end, n, proof, list(cps))
        case PostCheckpoints(game_id=g, roots=roots):
            return game.bisect(g, list(roots))
        case PickSegment(game_id=g, segment=s):
            return game.pick(g, s)
        case Step(game_id=g, state_data=state, proof_data=proof):
            return game.step(g, state, proof)
        case ClaimTimeout(game_id=g):
            return game.claimTimeout(g)
        case ReleaseGame(game_id=g):
            return stack.coordinator.functions.releaseGame(g)
    raise TypeError(f"no contract call for {action!r}")


@dataclass
class Played:
    """What `play` did: the receipts of the accepted moves in order, the moves the contract rejected, and the
    game as it stood when neither party had a move left."""

    receipts: list[Any]
    actions: list[Action]
    rejected: list[tuple[Action, ContractRevert]]
    final: GameView

    @property
    def gas(self) -> int:
        return sum(int(r["gasUsed"]) for r in self.receipts)


def play(stack: GameStack, game_id: int, providers: dict[Role, TraceProvider], max_moves: int = 200,
         stop_at: Phase | None = None) -> Played:
    """Lets each party (by its provider) make the solver's move until the game is over, neither can move, or the
    game reaches phase `stop_at`.

    A party whose move the contract rejects (a liar that cannot prove its link) makes no further move.
    """
    played = Played([], [], [], read_view(stack, game_id))
    stuck: set[Role] = set()
    for _ in range(max_moves):
        view = played.final = read_view(stack, game_id)
        if view.phase is stop_at:
            return played
        senders = {Role.SUBMITTER: view.submitter, Role.CHALLENGER: view.challenger}
        moves = [(role, next_action(view, role, providers[role], now(stack.w3)))
                 for role in _roles(view) if role not in stuck]
        moves = [(role, action) for role, action in moves if not isinstance(action, Wait)]
        if not moves:
            return played
        role, action = moves[0]
        try:
            played.receipts.append(send(stack, action_call(stack, action), senders[role]))
            played.actions.append(action)
        except ContractRevert as revert:
            played.rejected.append((action, revert))
            stuck.add(role)
    raise AssertionError(f"game {game_id} not over after {max_moves} moves")


def _roles(view: GameView) -> Iterable[Role]:
    """The party on the clock first, so the mover moves before the other may act (e.g. a step by anyone)."""
    first = view.on_clock or Role.SUBMITTER
    return (first, first.opponent)


# -- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def toy_stack(w3: Web3, contracts_built: None) -> GameStack:
    """One toy level of 2^20 transitions, N = 15."""
    return deploy_stack(w3)


@pytest.fixture(scope="session")
def toy_stack3(w3: Web3, contracts_built: None) -> GameStack:
    """Three toy levels of 8, 4 and 16 transitions, N = 3 (small enough to play every path)."""
    return deploy_stack(w3, StackConfig(level_lengths=(8, 4, 16), max_depths=(3, 2, 4), checkpoint_count=3))
