"""The pure solver against an in-memory referee that follows docs/game.md's state machine with the toy verifiers.

No chain: `FakeGame` applies the solver's actions the way `DisputeGame` would (same bisection arithmetic, link and
step checks, clocks), so these tests pin the solver's logic; the Anvil tests pin the contract agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from toy_faults import one_lie_per_place

from opml.chain.tx import ContractRevert
from opml.game import bisection
from opml.game.solver import SolverError, next_action, provider_at_depth
from opml.game.trace import StepWitness
from opml.game.toy import ForgeLink, Lie, ToyTrace, project, step, sub_context, sub_start
from opml.game.types import (Action, ClaimTimeout, GameView, OpenLevel, Phase, PickSegment, PostCheckpoints,
                             ReleaseGame, Role, Step, Wait)
from opml.hashing import keccak

ANCHOR = keccak(b"solver anchor")
LEVELS = (8, 4, 16)
N = 3
CLOCK = 100


def refused(name: str) -> ContractRevert:
    """The referee refuses a move as the contract does: a revert with the custom error `name`."""
    return ContractRevert(name, (), b"")


@dataclass
class FakeGame:
    """One game, played by the rules of DisputeGame with ToyLinkVerifier(expected lengths) and ToyStepVerifier."""

    output_commitment: bytes
    trace_commitment: bytes
    lengths: tuple[int, ...] = LEVELS
    n: int = N
    phase: Phase = Phase.OPEN
    depth: int = 0
    lo: int = 0
    hi: int = 1
    root_lo: bytes = ANCHOR
    root_hi: bytes = b""
    context: bytes = ANCHOR
    checkpoints: tuple[bytes, ...] = ()
    openings: list[int] = field(default_factory=list)
    time_left: dict[Role, int] = field(default_factory=lambda: {Role.SUBMITTER: CLOCK, Role.CHALLENGER: CLOCK})
    last_move_at: int = 0
    by_timeout: bool = False

    def __post_init__(self) -> None:
        self.root_hi = self.output_commitment

    def view(self) -> GameView:
        return GameView(
            game_id=1, phase=self.phase, depth=self.depth, num_levels=len(self.lengths), lo=self.lo, hi=self.hi,
            root_lo=self.root_lo, root_hi=self.root_hi, checkpoints=self.checkpoints, checkpoint_count=self.n,
            submitter_time_left=self.time_left[Role.SUBMITTER],
            challenger_time_left=self.time_left[Role.CHALLENGER], last_move_at=self.last_move_at,
            openings=tuple(self.openings), settled=self.phase.is_over,
        )

    def apply(self, action: Action, by: Role, now: int) -> None:
        if self.phase.is_over:
            raise refused("GameOver")
        if isinstance(action, ClaimTimeout):
            return self._claim_timeout(now)
        if not isinstance(action, Step) and by is not self.phase.on_clock:
            raise refused("NotYourTurn")
        self._charge(now)
        handler = {OpenLevel: self._open, PostCheckpoints: self._bisect, PickSegment: self._pick, Step: self._step}
        handler[type(action)](action)

    # -- moves ----------------------------------------------------------------------------------------------
    def _open(self, a: OpenLevel) -> None:
        self._expect(Phase.OPEN)
        if self.depth == 0 and a.sub_end != self.trace_commitment:
            raise refused("TraceCommitmentMismatch")
        if a.proof or a.sub_length != self.lengths[self.depth] or project(a.sub_end, a.sub_length) != self.root_hi:
            raise refused("LinkProofInvalid")
        self.openings.append(self.lo)
        self.root_lo = sub_start(self.context, self.lo, self.root_lo)
        self.context = sub_context(self.context, self.lo)
        self.depth, self.lo, self.hi, self.root_hi = self.depth + 1, 0, a.sub_length, a.sub_end
        if a.checkpoints:
            self._post(a.checkpoints)
        else:
            self._advance()

    def _bisect(self, a: PostCheckpoints) -> None:
        self._expect(Phase.BISECT)
        self._post(a.roots)

    def _post(self, roots: tuple[bytes, ...]) -> None:
        if len(roots) != bisection.checkpoint_count(self.lo, self.hi, self.n):
            raise refused("WrongCheckpointCount")
        self.checkpoints, self.phase = roots, Phase.PICK

    def _pick(self, a: PickSegment) -> None:
        self._expect(Phase.PICK)
        if a.segment > len(self.checkpoints):
            raise refused("BadSegment")
        roots = (self.root_lo, *self.checkpoints, self.root_hi)
        self.lo, self.hi = bisection.segment(self.lo, self.hi, self.n, a.segment)
        self.root_lo, self.root_hi = roots[a.segment], roots[a.segment + 1]
        self.checkpoints = ()
        self._advance()

    def _step(self, a: Step) -> None:
        self._expect(Phase.STEP)
        if a.state_data != self.root_lo or a.proof_data:
            raise refused("StepWitnessInvalid")
        won = step(self.root_lo) == self.root_hi
        self.phase = Phase.SUBMITTER_WON if won else Phase.CHALLENGER_WON

    def _claim_timeout(self, now: int) -> None:
        if now <= self.last_move_at + self.time_left[self.phase.on_clock]:
            raise refused("ClockNotExpired")
        self.by_timeout = True
        self.phase = Phase.SUBMITTER_WON if self.phase.on_clock is Role.CHALLENGER else Phase.CHALLENGER_WON

    # -- rules ----------------------------------------------------------------------------------------------
    def _expect(self, phase: Phase) -> None:
        if self.phase is not phase:
            raise refused("WrongMove")

    def _charge(self, now: int) -> None:
        mover = self.phase.on_clock
        if now > self.last_move_at + self.time_left[mover]:
            raise refused("ClockExpired")
        self.time_left[mover] -= now - self.last_move_at
        self.last_move_at = now

    def _advance(self) -> None:
        if self.hi - self.lo >= 2:
            self.phase = Phase.BISECT
        elif self.depth < len(self.lengths):
            self.phase = Phase.OPEN
        else:
            self.phase = Phase.STEP


@dataclass
class Outcome:
    phase: Phase
    by_timeout: bool
    moves: list[tuple[Role, str]]
    rejected: list[str]


def toy_execute(pre: bytes, witness: StepWitness) -> bytes:
    """ToyStepVerifier as a function: the post-state of the agreed pre-state."""
    assert witness.state_data == pre
    return step(pre)


def play(submitter: ToyTrace, challenger: ToyTrace, max_turns: int = 200, execute=None) -> Outcome:  # noqa: ANN001
    """Both parties ask the solver in turn; time passes by one second per turn (a stalled game: past the clock).
    `execute` is the step verifier the parties may consult at the final step (None: each trusts its trace)."""
    request = submitter
    output = request.root_at(1)
    trace_commitment = request.open_next(0)[0].root_at(LEVELS[0])
    game = FakeGame(output, trace_commitment)
    now, moves, rejected = 0, [], []
    for _ in range(max_turns):
        if game.phase.is_over:
            return Outcome(game.phase, game.by_timeout, moves, rejected)
        progressed = False
        for role, provider in ((Role.SUBMITTER, submitter), (Role.CHALLENGER, challenger)):
            now += 1
            action = next_action(game.view(), role, provider, now, execute)
            if isinstance(action, Wait):
                continue
            try:
                game.apply(action, role, now)
                moves.append((role, type(action).__name__))
                progressed = True
            except ContractRevert as exc:
                rejected.append(exc.name)
            if game.phase.is_over:
                break
        if not progressed:
            now += CLOCK  # everyone waits: let the clock of the party that is stuck run out
    raise AssertionError("the game did not end")


def honest() -> ToyTrace:
    return ToyTrace.request(ANCHOR, LEVELS)


def liar(*faults) -> ToyTrace:
    return ToyTrace.request(ANCHOR, LEVELS, frozenset(faults))


LAST = (0, 3, 2)  # a path to a last-level sub-trace
FAULTS = one_lie_per_place(LEVELS, LAST)
FORGED = {
    "forged output": ForgeLink((), 1),
    "forged link level 0→1": ForgeLink((0,), 6),
    "forged link level 1→2": ForgeLink((0, 2), 3),
    "forged length level 1→2": ForgeLink((0, 2), 4, "length"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_honest_challenger_beats_lying_submitter(name: str) -> None:
    outcome = play(liar(FAULTS[name]), honest())
    assert outcome.phase is Phase.CHALLENGER_WON, outcome
    assert not outcome.by_timeout and outcome.moves[-1][1] == "Step"
    assert outcome.rejected == []


@pytest.mark.parametrize("name", list(FAULTS))
def test_honest_submitter_beats_lying_challenger(name: str) -> None:
    outcome = play(honest(), liar(FAULTS[name]))
    assert outcome.phase is Phase.SUBMITTER_WON, outcome
    assert outcome.moves[-1] == (Role.SUBMITTER, "Step")
    assert outcome.rejected == []


STEPPED_LIES = {k: v for k, v in FAULTS.items() if isinstance(v, Lie)}


@pytest.mark.parametrize("name", list(STEPPED_LIES))
@pytest.mark.parametrize("liar_role", [Role.SUBMITTER, Role.CHALLENGER])
def test_with_the_verifier_only_the_favoured_party_steps(name: str, liar_role: Role) -> None:
    """Both parties see the same executed post-state, so the liar never races the honest party to the step."""
    lying = liar(STEPPED_LIES[name])
    parties = (lying, honest()) if liar_role is Role.SUBMITTER else (honest(), lying)
    outcome = play(*parties, execute=toy_execute)
    honest_role = liar_role.opponent
    assert outcome.phase is (Phase.SUBMITTER_WON if honest_role is Role.SUBMITTER else Phase.CHALLENGER_WON)
    steppers = [role for role, name_ in outcome.moves if name_ == "Step"]
    assert steppers == [honest_role] and not outcome.by_timeout and outcome.rejected == []


def test_at_the_step_the_party_it_disfavours_waits_even_when_its_trace_disagrees() -> None:
    lying = provider_at_depth(liar(Lie(LAST, 9)), LAST)
    truth = provider_at_depth(honest(), LAST)
    view = _view(phase=Phase.STEP, depth=3, lo=8, hi=9, root_lo=truth.root_at(8), root_hi=lying.root_at(9),
                 checkpoints=(), openings=LAST)
    assert lying.root_at(9) != truth.root_at(9)
    assert next_action(view, Role.SUBMITTER, liar(Lie(LAST, 9)), 1000) == Step(7, truth.root_at(8), b"")
    assert next_action(view, Role.SUBMITTER, liar(Lie(LAST, 9)), 1000, toy_execute) == \
        Wait(7, "the step would not favour this party")
    assert next_action(view, Role.CHALLENGER, honest(), 1000, toy_execute) == Step(7, truth.root_at(8), b"")


@pytest.mark.parametrize("name", list(FORGED))
def test_forged_link_is_rejected_and_the_forger_times_out(name: str) -> None:
    outcome = play(liar(FORGED[name]), honest())
    assert outcome.phase is Phase.CHALLENGER_WON and outcome.by_timeout, outcome
    assert set(outcome.rejected) <= {"LinkProofInvalid", "TraceCommitmentMismatch"} and outcome.rejected


def test_honest_parties_agree_and_the_idle_challenger_times_out() -> None:
    outcome = play(honest(), honest())
    assert outcome.phase is Phase.SUBMITTER_WON and outcome.by_timeout
    assert outcome.moves == [(Role.SUBMITTER, "OpenLevel"), (Role.SUBMITTER, "ClaimTimeout")]


def test_moves_of_a_lying_submitter_game_follow_the_levels() -> None:
    outcome = play(liar(Lie(LAST, 9)), honest())
    names = [name for _, name in outcome.moves]
    # level 0 (8 steps, N=3): open+checkpoints, pick, bisect, pick; then levels 1 (4) and 2 (16) likewise; step
    assert names[:4] == ["OpenLevel", "PickSegment", "PostCheckpoints", "PickSegment"]
    assert names.count("OpenLevel") == 3 and names[-1] == "Step"
    assert names.count("PickSegment") == bisection.rounds(8, N) + bisection.rounds(4, N) + bisection.rounds(16, N)


def _view(**changes) -> GameView:
    base = dict(game_id=7, phase=Phase.PICK, depth=1, num_levels=3, lo=0, hi=8, root_lo=b"\0" * 32,
                root_hi=b"\1" * 32, checkpoints=(b"\2" * 32,) * 3, checkpoint_count=3, submitter_time_left=50,
                challenger_time_left=40, last_move_at=1000, openings=(0,))
    return GameView(**{**base, **changes})


def test_opponent_out_of_time_is_claimed_and_own_timeout_is_not() -> None:
    view = _view()
    assert next_action(view, Role.SUBMITTER, honest(), 1040) == Wait(7, "opponent's turn")
    assert next_action(view, Role.SUBMITTER, honest(), 1041) == ClaimTimeout(7)
    assert next_action(view, Role.CHALLENGER, honest(), 1041) == Wait(7, "out of time")


def test_moot_unsettled_game_is_released_and_finished_games_wait() -> None:
    assert next_action(_view(moot=True), Role.CHALLENGER, honest(), 0) == ReleaseGame(7)
    assert next_action(_view(moot=True), Role.SUBMITTER, honest(), 0) == Wait(7, "game is moot")
    over = _view(phase=Phase.SUBMITTER_WON, settled=True)
    assert next_action(over, Role.CHALLENGER, honest(), 0) == Wait(7, "game over")


def test_challenger_picks_first_disputed_segment() -> None:
    provider = provider_at_depth(honest(), (0,))
    roots = tuple(provider.root_at(p) for p in bisection.checkpoint_positions(0, 8, N))
    wrong = keccak(b"wrong")
    for bad in range(3):
        claimed = roots[:bad] + (wrong,) * (3 - bad)
        view = _view(checkpoints=claimed, root_hi=wrong)
        assert next_action(view, Role.CHALLENGER, honest(), 1000) == PickSegment(7, bad)
    view = _view(checkpoints=roots, root_hi=wrong)
    assert next_action(view, Role.CHALLENGER, honest(), 1000) == PickSegment(7, 3)


def test_provider_that_does_not_fit_the_game_is_an_error() -> None:
    with pytest.raises(SolverError):
        next_action(_view(phase=Phase.BISECT, hi=64, checkpoints=()), Role.SUBMITTER, honest(), 1000)
    with pytest.raises(SolverError):
        provider_at_depth(honest(), (0, 0, 0, 0))


@pytest.mark.parametrize("length,n,expected", [(1 << 20, 15, 5), (8, 3, 2), (16, 3, 2), (4, 3, 1), (2, 15, 1),
                                               (1 << 10, 1, 10), (1 << 20, 2, 13)])
def test_rounds_and_positions_follow_the_contract_formula(length: int, n: int, expected: int) -> None:
    assert bisection.rounds(length, n) == expected
    c = min(n, length - 1)
    assert bisection.boundaries(0, length, n) == [j * length // (c + 1) for j in range(c + 2)]
    with pytest.raises(bisection.BisectionError):
        bisection.segment(0, length, n, c + 1)
