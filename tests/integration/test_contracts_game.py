"""DisputeGame on Anvil with the toy levels: honest parties win every played game, every illegal move is rejected
with its named error, clocks decide silent parties' games."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from fixtures_game import (GameStack, RequestAbove, StackConfig, advance_time, challenge, deploy_stack, events,
                           expect_revert, now, play, read_view, request, selector_of, send, set_next_timestamp, submit,
                           toy_trace)

from opml.chain.contracts import deploy
from opml.game import bisection
from opml.game.toy import ForgeLink, Lie, WrongStart, corrupt, sub_start
from opml.game.toy import step as toy_step
from opml.game.trace import LastLevel, StepWitness
from opml.game.types import OpenLevel, Phase, PickSegment, Role

pytestmark = pytest.mark.usefixtures("isolated_chain")

ZERO32 = b"\0" * 32


def _game(stack: GameStack, submitter_faults: frozenset = frozenset()):
    """A request, a result (honest unless faults), one challenge; returns (gameId, submitter's provider,
    requestId)."""
    request_id, _ = request(stack)
    trace = toy_trace(stack, request_id, submitter_faults)
    submit(stack, request_id, trace)
    game_id, _ = challenge(stack, request_id)
    return game_id, trace, request_id


def _resolved_event(stack: GameStack, receipt):
    (event,) = events(stack.game.events.GameResolved, receipt)
    return event


# -- the 2^20-step single-level game ----------------------------------------------------------------------------
def test_lying_submitter_loses_2pow20_game_in_5_rounds_and_12_transactions(toy_stack: GameStack) -> None:
    length = toy_stack.config.level_lengths[0]
    fault_index = 777_777
    game_id, liar, request_id = _game(toy_stack, frozenset({Lie((0,), fault_index)}))
    played = play(toy_stack, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: toy_trace(toy_stack, request_id)})

    assert played.final.phase is Phase.CHALLENGER_WON
    assert not played.rejected
    picks = [a for a in played.actions if isinstance(a, PickSegment)]
    assert len(picks) == bisection.rounds(length, 15) == 5
    transactions = 1 + len(played.receipts)  # the challenge opened the game
    assert transactions <= 12, [type(a).__name__ for a in played.actions]
    # the step ran on the first wrong transition: from the agreed S_{i-1} to the liar's S_i
    assert played.final.lo == fault_index - 1 and played.final.hi == fault_index
    winner = _resolved_event(toy_stack, played.receipts[-1])
    assert winner["winner"] == toy_stack.challenger and not winner["submitterWon"] and not winner["byTimeout"]


def test_honest_submitter_beats_lying_challenger_2pow20(toy_stack: GameStack) -> None:
    game_id, honest, request_id = _game(toy_stack)
    liar = toy_trace(toy_stack, request_id, frozenset({Lie((0,), 123_456)}))
    played = play(toy_stack, game_id, {Role.SUBMITTER: honest, Role.CHALLENGER: liar})
    assert played.final.phase is Phase.SUBMITTER_WON
    assert not played.rejected
    assert _resolved_event(toy_stack, played.receipts[-1])["winner"] == toy_stack.submitter


# -- three levels: a lie at any level is caught -----------------------------------------------------------------
LIES = [
    Lie((0,), 5),  # level 0: a sub-trace with a corrupted end behind it
    Lie((0, 2), 3),  # level 1
    Lie((0, 6, 1), 16),  # last level, its final step
    Lie((0, 0, 0), 1),  # last level, the very first step
    WrongStart((0, 4)),  # a wrongly derived level-1 start
]


@pytest.mark.parametrize("fault", LIES, ids=repr)
def test_lie_at_any_level_loses_by_step(toy_stack3: GameStack, fault) -> None:
    game_id, liar, request_id = _game(toy_stack3, frozenset({fault}))
    played = play(toy_stack3, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: toy_trace(toy_stack3, request_id)})
    assert played.final.phase is Phase.CHALLENGER_WON, played.rejected
    assert played.final.depth == 3  # played down to the last level's step
    assert not _resolved_event(toy_stack3, played.receipts[-1])["byTimeout"]


@pytest.mark.parametrize("fault", LIES, ids=repr)
def test_lying_challenger_loses_at_any_level(toy_stack3: GameStack, fault) -> None:
    game_id, honest, request_id = _game(toy_stack3)
    liar = toy_trace(toy_stack3, request_id, frozenset({fault}))
    played = play(toy_stack3, game_id, {Role.SUBMITTER: honest, Role.CHALLENGER: liar})
    assert played.final.phase is Phase.SUBMITTER_WON
    assert not played.rejected


@pytest.mark.parametrize(
    ("fault", "inner"),
    [
        (ForgeLink((0,), 3, "projection"), "ToyProjectionMismatch"),
        (ForgeLink((0, 7), 2, "projection"), "ToyProjectionMismatch"),
        (ForgeLink((0, 1), 4, "length"), "ToyLengthMismatch"),
        (ForgeLink((), 1, "projection"), "ToyProjectionMismatch"),  # output that no level-0 trace projects to
    ],
    ids=repr,
)
def test_forged_link_is_rejected_and_the_liar_times_out(toy_stack3: GameStack, fault, inner: str) -> None:
    game_id, liar, request_id = _game(toy_stack3, frozenset({fault}))
    honest = toy_trace(toy_stack3, request_id)
    played = play(toy_stack3, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})

    (action, revert), = played.rejected
    assert isinstance(action, OpenLevel)
    assert revert.name == "LinkProofInvalid" and revert.data[:4] == selector_of(toy_stack3, "LinkProofInvalid")
    reason = revert.arguments[0]
    assert reason[:4] == selector_of(toy_stack3, inner)
    assert played.final.phase is Phase.OPEN and played.final.on_clock is Role.SUBMITTER

    advance_time(toy_stack3.w3, toy_stack3.config.clock_seconds + 1)
    after = play(toy_stack3, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert after.final.phase is Phase.CHALLENGER_WON
    assert _resolved_event(toy_stack3, after.receipts[-1])["byTimeout"]


def test_forged_link_by_hand_names_the_projection(toy_stack3: GameStack) -> None:
    game_id, trace, _ = _game(toy_stack3)
    level0, _ = trace.open_next(0)
    end = level0.root_at(level0.length)
    call = toy_stack3.game.functions.openLevel(game_id, end, level0.length // 2, b"", [])
    revert = expect_revert(toy_stack3, call, toy_stack3.submitter, "LinkProofInvalid")
    reason = revert.arguments[0]
    assert reason[:4] == selector_of(toy_stack3, "ToyLengthMismatch")
    assert tuple(abi_decode(["uint256", "uint256"], reason[4:])) == (8, 4)
    proof = toy_stack3.game.functions.openLevel(game_id, end, level0.length, b"\x01", [])
    assert expect_revert(toy_stack3, proof, toy_stack3.submitter, "LinkProofInvalid").arguments[0][:4] == \
        selector_of(toy_stack3, "ToyProofNotEmpty")


# -- illegal moves ----------------------------------------------------------------------------------------------
def test_moves_out_of_turn_by_third_parties_and_of_the_wrong_kind_are_rejected(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, trace, _ = _game(s)
    level0, _ = trace.open_next(0)
    end = level0.root_at(level0.length)
    cps = [level0.root_at(p) for p in bisection.checkpoint_positions(0, level0.length, 3)]
    fn = s.game.functions
    open_call = fn.openLevel(game_id, end, level0.length, b"", cps)
    expect_revert(s, open_call, s.challenger, "NotYourTurn")
    expect_revert(s, open_call, s.other, "NotAParty")
    expect_revert(s, fn.pick(game_id, 0), s.challenger, "NotYourTurn")
    assert expect_revert(s, fn.bisect(game_id, cps), s.submitter, "WrongMove").arguments == (Phase.OPEN.value,)
    expect_revert(s, fn.step(game_id, ZERO32, b""), s.other, "WrongMove")
    expect_revert(s, fn.openLevel(game_id, corrupt(end), level0.length, b"", cps), s.submitter,
                  "TraceCommitmentMismatch")
    expect_revert(s, fn.openLevel(game_id, end, 0, b"", []), s.submitter, "BadSubLength")
    expect_revert(s, fn.openLevel(game_id, end, 16, b"", []), s.submitter, "BadSubLength")  # 2^3 max
    assert expect_revert(s, fn.openLevel(game_id, end, level0.length, b"", cps[:2]), s.submitter,
                         "WrongCheckpointCount").arguments == (3, 2)

    play_one(s, open_call, s.submitter)  # now the challenger picks
    expect_revert(s, fn.bisect(game_id, cps), s.submitter, "NotYourTurn")
    expect_revert(s, fn.pick(game_id, 0), s.other, "NotAParty")
    assert expect_revert(s, fn.pick(game_id, 4), s.challenger, "BadSegment").arguments == (4, 3)
    expect_revert(s, fn.claimTimeout(game_id), s.other, "ClockNotExpired")
    expect_revert(s, fn.pick(999, 0), s.challenger, "UnknownGame")


def play_one(stack: GameStack, call, sender: str):
    return send(stack, call, sender)


def test_step_needs_a_witness_of_the_agreed_pre_state(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, liar, request_id = _game(s, frozenset({Lie((0, 0, 0), 16)}))
    honest = toy_trace(s, request_id)
    played = play(s, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest}, stop_at=Phase.STEP)
    view = played.final
    assert view.phase is Phase.STEP and view.depth == 3
    fn = s.game.functions
    revert = expect_revert(s, fn.step(game_id, corrupt(view.root_lo), b""), s.other, "StepWitnessInvalid")
    assert revert.arguments[0][:4] == selector_of(s, "ToyWitnessMismatch")
    expect_revert(s, fn.step(game_id, view.root_lo, b"\x00"), s.other, "StepWitnessInvalid")
    receipt = play_one(s, fn.step(game_id, view.root_lo, b""), s.other)  # anyone may step
    assert _resolved_event(s, receipt)["winner"] == s.challenger
    expect_revert(s, fn.step(game_id, view.root_lo, b""), s.other, "GameOver")
    expect_revert(s, fn.claimTimeout(game_id), s.other, "GameOver")
    expect_revert(s, fn.pick(game_id, 0), s.challenger, "GameOver")


def test_only_the_coordinator_creates_and_cancels_games_and_binding_is_once(toy_stack3: GameStack) -> None:
    s = toy_stack3
    fn = s.game.functions
    create = fn.createGame((1, 1, s.submitter, s.challenger, ZERO32, ZERO32, ZERO32))
    expect_revert(s, create, s.other, "NotCoordinator")
    expect_revert(s, fn.cancelGame(1), s.other, "NotCoordinator")
    expect_revert(s, fn.bindCoordinator(s.other), s.other, "NotDeployer")
    expect_revert(s, fn.bindCoordinator(s.other), s.admin, "CoordinatorAlreadySet")
    expect_revert(s, s.coordinator.functions.onGameResolved(1, True), s.other, "NotGame")


# -- clocks -----------------------------------------------------------------------------------------------------
def test_silent_submitter_loses_and_anyone_claims(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, trace, _ = _game(s)
    deadline = s.game.functions.deadline(game_id).call()
    assert deadline == read_view(s, game_id).last_move_at + s.config.clock_seconds
    advance_time(s.w3, s.config.clock_seconds - 60)
    expect_revert(s, s.game.functions.claimTimeout(game_id), s.other, "ClockNotExpired")
    advance_time(s.w3, 120)
    level0, _ = trace.open_next(0)
    late = s.game.functions.openLevel(game_id, level0.root_at(level0.length), level0.length, b"", [])
    assert expect_revert(s, late, s.submitter, "ClockExpired").arguments == (deadline,)
    receipt = play_one(s, s.game.functions.claimTimeout(game_id), s.other)
    event = _resolved_event(s, receipt)
    assert event["winner"] == s.challenger and event["byTimeout"]
    assert read_view(s, game_id).phase is Phase.CHALLENGER_WON


def test_silent_challenger_loses_mid_game_and_clocks_are_charged(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, trace, _ = _game(s)
    created_at = read_view(s, game_id).last_move_at
    level0, _ = trace.open_next(0)
    cps = [level0.root_at(p) for p in bisection.checkpoint_positions(0, level0.length, 3)]
    set_next_timestamp(s.w3, created_at + 1_000)
    play_one(s, s.game.functions.openLevel(game_id, level0.root_at(level0.length), level0.length, b"", cps),
             s.submitter)
    view = read_view(s, game_id)
    assert view.submitter_time_left == s.config.clock_seconds - 1_000
    assert view.challenger_time_left == s.config.clock_seconds and view.last_move_at == created_at + 1_000
    assert s.game.functions.deadline(game_id).call() == created_at + 1_000 + s.config.clock_seconds
    assert s.game.functions.toMove(game_id).call() == s.challenger
    deadline = created_at + 1_000 + s.config.clock_seconds
    set_next_timestamp(s.w3, deadline + 1)
    expect_revert(s, s.game.functions.pick(game_id, 0), s.challenger, "ClockExpired")
    receipt = play_one(s, s.game.functions.claimTimeout(game_id), s.requester)
    assert _resolved_event(s, receipt)["submitterWon"]


def test_a_move_at_the_deadline_itself_is_accepted(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, trace, _ = _game(s)
    deadline = s.game.functions.deadline(game_id).call()
    level0, _ = trace.open_next(0)
    set_next_timestamp(s.w3, deadline)
    receipt = play_one(s, s.game.functions.openLevel(game_id, level0.root_at(level0.length), level0.length, b"", []),
                       s.submitter)
    assert s.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == deadline
    view = read_view(s, game_id)
    assert view.submitter_time_left == 0 and view.phase is Phase.BISECT
    set_next_timestamp(s.w3, deadline + 1)  # the submitter has no time left for its next move
    # explicit gas: a gas estimate would run at the previous block's time, when the claim was still early
    receipt = send(s, s.game.functions.claimTimeout(game_id), s.other, gas=300_000)
    assert _resolved_event(s, receipt)["winner"] == s.challenger


def test_challenger_silent_at_the_step_loses(toy_stack3: GameStack) -> None:
    s = toy_stack3
    game_id, honest, request_id = _game(s)
    liar = toy_trace(s, request_id, frozenset({Lie((0, 3, 2), 9)}))
    played = play(s, game_id, {Role.SUBMITTER: honest, Role.CHALLENGER: liar}, stop_at=Phase.STEP)
    assert played.final.phase is Phase.STEP and played.final.on_clock is Role.CHALLENGER
    assert now(s.w3) <= s.game.functions.deadline(game_id).call()
    advance_time(s.w3, s.config.clock_seconds + 1)
    receipt = play_one(s, s.game.functions.claimTimeout(game_id), s.submitter)
    assert _resolved_event(s, receipt)["submitterWon"]


def test_views_match_the_bisection_arithmetic(toy_stack: GameStack) -> None:
    fn = toy_stack.game.functions
    for lo, hi in [(0, 1 << 20), (5, 21), (7, 9), (0, 2), (100, 117)]:
        assert fn.positions(lo, hi).call() == bisection.boundaries(lo, hi, 15)
    assert fn.positions(3, 4).call() == [3, 4]
    assert fn.numLevels().call() == 1 and fn.maxDepth(0).call() == 20 and fn.checkpointCount().call() == 15


# -- lengths that are not powers of two (the graph and tile levels have exact node and tile counts) ------------
class ChainLevel:
    """A last level of any length: S_0 = start, S_{i+1} = toy step(S_i); a liar corrupts S_lie_at and steps on."""

    is_last_level = True

    def __init__(self, start: bytes, length: int, lie_at: int | None = None) -> None:
        self.length = length
        self._roots = [start]
        for i in range(1, length + 1):
            post = toy_step(self._roots[-1])
            self._roots.append(corrupt(post) if i == lie_at else post)

    def root_at(self, i: int) -> bytes:
        return self._roots[i]

    def open_next(self, k: int):
        raise LastLevel("last level")

    def step_witness(self, k: int) -> StepWitness:
        return StepWitness(self._roots[k], b"")


@pytest.fixture(scope="module")
def any_length_stack(w3, contracts_built) -> GameStack:
    """One level of at most 2^3 transitions whose link accepts any length; N = 3."""
    link = deploy(w3, "ToyLinkVerifier", 0)
    return deploy_stack(w3, StackConfig(level_lengths=(8,), max_depths=(3,), checkpoint_count=3),
                        link_verifiers=[link])


@pytest.mark.parametrize(("length", "lie_at"), [(6, 1), (6, 3), (6, 6), (5, 2), (7, 7), (3, 2), (1, 1)])
def test_levels_of_any_length_are_bisected_to_the_lie(any_length_stack: GameStack, length: int, lie_at: int) -> None:
    s = any_length_stack
    request_id, _ = request(s)
    anchor = bytes(s.coordinator.functions.getRequest(request_id).call()[5])
    start = sub_start(anchor, 0, anchor)
    liar = RequestAbove(anchor, ChainLevel(start, length, lie_at))
    honest = RequestAbove(anchor, ChainLevel(start, length))
    submit(s, request_id, liar)
    game_id, _ = challenge(s, request_id)
    played = play(s, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert played.final.phase is Phase.CHALLENGER_WON and not played.rejected
    assert (played.final.lo, played.final.hi) == (lie_at - 1, lie_at)
    if length >= 2:
        assert s.game.functions.positions(0, length).call() == bisection.boundaries(0, length, 3)
