"""Property-based (hypothesis stateful) tests on Anvil: random sequences of requests, submissions (honest, lying),
challenges (honest, lying, sybil), moves, timeouts, releases, cancels, finalizations and withdrawals by random
actors. After every step ether is conserved (coordinator balance = credits + bonds + fees held) and an honest party
that plays never loses a game; at the end of every run, driven to completion by anyone's moves and the clock,
every request is finalized or cancelled (none stuck), and the liar with its sybils never ends up ahead.

Honest parties play: before the clock moves, each makes every move the solver gives it (so only a party that does
not play can run out of time). Each example starts from the same chain snapshot and is reverted afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from chain_ledger import assert_conserved
from fixtures_game import GameStack, action_call, anchor_of, events, now, read_view, send
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from opml.chain.tx import ContractRevert
from opml.game.solver import next_action
from opml.game.toy import Lie, ToyTrace
from opml.game.types import Phase, Role, Wait

pytestmark = pytest.mark.usefixtures("isolated_chain")

SUBMITTER_LIE = frozenset({Lie((0, 5, 1), 7)})
CHALLENGER_LIE = frozenset({Lie((0, 2), 3)})
OPEN, SUBMITTED, FINALIZED, CANCELLED = 1, 2, 3, 4
SLASH_LOSS_BPS = 8_000


@dataclass
class Actors:
    requesters: tuple[str, ...]
    honest_submitter: str
    liar: str
    honest_challenger: str
    lying_challenger: str
    sybil: str

    @property
    def all(self) -> list[str]:
        return [*self.requesters, self.honest_submitter, self.liar, self.honest_challenger, self.lying_challenger,
                self.sybil]


@dataclass
class World:
    """What the test knows of the chain: which actor told what in every game."""

    stack: GameStack
    actors: Actors
    traces: dict[tuple[int, str], ToyTrace] = field(default_factory=dict)
    games: dict[int, tuple[str, str]] = field(default_factory=dict)  # game id → (submitter, challenger)
    submitted_by: dict[int, str] = field(default_factory=dict)  # submission id → submitter account
    over: set[int] = field(default_factory=set)  # games resolved or cancelled: nothing left to play

    def trace(self, request_id: int, account: str) -> ToyTrace:
        """The request-level provider `account` plays: the liar's and the lying challenger's carry a lie."""
        faults = {self.actors.liar: SUBMITTER_LIE, self.actors.lying_challenger: CHALLENGER_LIE}.get(account,
                                                                                                     frozenset())
        key = (request_id, account if faults else "honest")
        if key not in self.traces:
            self.traces[key] = ToyTrace.request(anchor_of(self.stack, request_id), self.stack.config.level_lengths,
                                                faults)
        return self.traces[key]

    def honest(self, account: str) -> bool:
        return account in (self.actors.honest_submitter, self.actors.honest_challenger)


def _try(stack: GameStack, call, sender: str, value: int = 0):  # noqa: ANN001, ANN202
    """Sends; a revert must be one of the contracts' named errors (never a panic or an unnamed revert)."""
    try:
        return send(stack, call, sender, value)
    except ContractRevert as revert:
        assert revert.name[:1].isupper() and revert.name not in ("Panic", "Error") and \
            not revert.name.startswith("UnknownError"), revert
        return None


def _move(world: World, game_id: int, role: Role) -> bool:
    """`role`'s solver move in `game_id`, if it has one; True if a transaction was mined."""
    stack = world.stack
    if game_id in world.over:
        return False
    view = read_view(stack, game_id)
    if view.phase.is_over:
        world.over.add(game_id)
        return False
    submitter, challenger = world.games[game_id]
    account = submitter if role is Role.SUBMITTER else challenger
    action = next_action(view, role, world.trace(view.request_id, account), now(stack.w3))
    if isinstance(action, Wait):
        return False
    return _try(stack, action_call(stack, action), account) is not None


def _honest_play(world: World) -> None:
    """Every honest party makes every move it has (it plays promptly)."""
    for _ in range(200):
        moved = False
        for game_id, (submitter, challenger) in world.games.items():
            for role, account in ((Role.SUBMITTER, submitter), (Role.CHALLENGER, challenger)):
                if world.honest(account):
                    moved |= _move(world, game_id, role)
        if not moved:
            return
    raise AssertionError("honest parties still moving after 200 rounds")


def make_machine(stack: GameStack, actors: Actors) -> type[RuleBasedStateMachine]:
    cfg = stack.config
    fn = stack.coordinator.functions

    class GameMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = stack.w3.provider.make_request("evm_snapshot", [])["result"]
            self.world = World(stack, actors)
            self.start_credit = {a: fn.balanceOf(a).call() for a in actors.all}

        def teardown(self) -> None:
            try:
                self._drain()
            finally:
                stack.w3.provider.make_request("evm_revert", [self.snapshot])

        # -- helpers ------------------------------------------------------------------------------------------
        def _requests(self) -> int:
            return fn.requestCount().call()

        def _pending(self, request_id: int) -> int:
            request = fn.getRequest(request_id).call()
            return request[9] if request[8] == SUBMITTED else 0

        def _advance(self, seconds: int) -> None:
            _honest_play(self.world)
            stack.w3.provider.make_request("evm_increaseTime", [seconds])
            stack.w3.provider.make_request("evm_mine", [])

        @initialize(liar=st.booleans(), challenges=st.sampled_from(["one", "two", "none"]))
        def first_result(self, liar: bool, challenges: str) -> None:
            """Every run starts with one request, a result on it (honest or not), and usually a game or two."""
            self.request(0, b"first")
            self.submit(0, liar)
            for sybil in {"one": [False], "two": [True, False], "none": []}[challenges]:
                self.challenge(0, sybil)

        # -- rules --------------------------------------------------------------------------------------------
        @rule(who=st.integers(0, 1), data=st.binary(min_size=1, max_size=8))
        def request(self, who: int, data: bytes) -> None:
            _try(stack, fn.request(stack.model_id, data, "0x" + "00" * 20, 0), actors.requesters[who], cfg.model_fee)

        def _with_status(self, status: int) -> list[int]:
            return [i for i in range(1, self._requests() + 1) if fn.getRequest(i).call()[8] == status]

        @rule(index=st.integers(0, 7), liar=st.booleans())
        def submit(self, index: int, liar: bool) -> None:
            open_ids = self._with_status(OPEN) or list(range(1, self._requests() + 1))  # (else: it must revert)
            request_id = open_ids[index % len(open_ids)]
            account = actors.liar if liar else actors.honest_submitter
            trace = self.world.trace(request_id, account)
            level0, _ = trace.open_next(0)
            receipt = _try(stack, fn.submit(request_id, trace.claim_preimage(1), level0.root_at(level0.length)),
                           account, cfg.submitter_bond)
            if receipt is not None:
                (event,) = events(stack.coordinator.events.ResultSubmitted, receipt)
                self.world.submitted_by[event["submissionId"]] = account

        @rule(index=st.integers(0, 7), sybil=st.booleans())
        def challenge(self, index: int, sybil: bool) -> None:
            """The honest challenger (or the liar's sybil) disputes a lie; the lying challenger disputes the truth."""
            pending = self._with_status(SUBMITTED)
            if not pending:
                return
            request_id = pending[index % len(pending)]
            submitter = self.world.submitted_by[self._pending(request_id)]
            account = (actors.sybil if sybil else actors.honest_challenger) if submitter == actors.liar \
                else actors.lying_challenger
            receipt = _try(stack, fn.challenge(request_id), account, cfg.challenger_bond)
            if receipt is not None:
                (event,) = events(stack.coordinator.events.Challenged, receipt)
                self.world.games[event["gameId"]] = (submitter, account)

        @rule(index=st.integers(0, 15), submitter_side=st.booleans())
        def liar_move(self, index: int, submitter_side: bool) -> None:
            """A dishonest party (liar, lying challenger, sybil) makes its move, or not."""
            if not self.world.games:
                return
            game_id = sorted(self.world.games)[index % len(self.world.games)]
            submitter, challenger = self.world.games[game_id]
            role = Role.SUBMITTER if submitter_side else Role.CHALLENGER
            if not self.world.honest(submitter if submitter_side else challenger):
                _move(self.world, game_id, role)

        @rule(seconds=st.sampled_from([30, 30, 301, 601, 3_601, 86_401]))
        def time_passes(self, seconds: int) -> None:
            self._advance(seconds)

        @rule(index=st.integers(0, 15), who=st.integers(0, 6))
        def timeout_or_release(self, index: int, who: int) -> None:
            if not self.world.games:
                return
            game_id = sorted(self.world.games)[index % len(self.world.games)]
            _try(stack, stack.game.functions.claimTimeout(game_id), actors.all[who])
            _try(stack, fn.releaseGame(game_id), actors.all[who])

        @rule(index=st.integers(0, 7), who=st.integers(0, 6))
        def finalize(self, index: int, who: int) -> None:
            _try(stack, fn.finalize(index % self._requests() + 1), actors.all[who])

        @rule(index=st.integers(0, 7), who=st.integers(0, 1))
        def cancel(self, index: int, who: int) -> None:
            _try(stack, fn.cancelRequest(index % self._requests() + 1), actors.requesters[who])

        @rule(who=st.integers(0, 6))
        def withdraw(self, who: int) -> None:
            _try(stack, fn.withdraw(), actors.all[who])

        # -- invariants ---------------------------------------------------------------------------------------
        @invariant()
        def ether_is_conserved(self) -> None:
            assert_conserved(stack, [*stack.accounts.values(), *actors.all])

        @invariant()
        def honest_players_never_lose(self) -> None:
            for game_id, (submitter, challenger) in self.world.games.items():
                phase = Phase(stack.game.functions.getGame(game_id).call()[4])
                if phase is Phase.CHALLENGER_WON:
                    assert not self.world.honest(submitter), f"honest submitter lost game {game_id}"
                if phase is Phase.SUBMITTER_WON:
                    assert not self.world.honest(challenger), f"honest challenger lost game {game_id}"

        # -- the end: everything must come to an end by the rules ---------------------------------------------
        def _drain(self) -> None:
            for _ in range(12):
                self._advance(cfg.clock_seconds + 1)
                for game_id in sorted(self.world.games):
                    for role in (Role.SUBMITTER, Role.CHALLENGER):
                        _move(self.world, game_id, role)  # liars too, now
                    _try(stack, stack.game.functions.claimTimeout(game_id), actors.honest_challenger)
                    _try(stack, fn.releaseGame(game_id), actors.honest_challenger)
                for request_id in range(1, self._requests() + 1):
                    status = fn.getRequest(request_id).call()[8]
                    if status == OPEN:
                        self.submit(request_id - 1, False)  # an honest submitter answers what is open …
                    _try(stack, fn.finalize(request_id), actors.honest_submitter)
                if all(fn.getRequest(i).call()[8] in (FINALIZED, CANCELLED) for i in range(1, self._requests() + 1)):
                    break
            statuses = [fn.getRequest(i).call()[8] for i in range(1, self._requests() + 1)]
            assert all(s in (FINALIZED, CANCELLED) for s in statuses), f"requests stuck: {statuses}"
            phases = [Phase(stack.game.functions.getGame(g).call()[4]).name for g in sorted(self.world.games)]
            event(f"games: {len(phases)}; challenger won: {phases.count('CHALLENGER_WON')}; "
                  f"cancelled (moot): {phases.count('CANCELLED')}; cancelled requests: {statuses.count(CANCELLED)}")
            for account in actors.all:
                if fn.balanceOf(account).call():
                    send(stack, fn.withdraw(), account)
            assert_conserved(stack, [*stack.accounts.values(), *actors.all], "after draining")
            # on every slashed lie, the liar and its sybil together lose at least 80% of the bond
            group = [actors.liar, actors.sybil]
            for submission_id, who in self.world.submitted_by.items():
                if who == actors.liar and fn.getSubmission(submission_id).call()[6] == 2:
                    recovered = fn.getSlash(submission_id).call()[2] * self._group_claims(submission_id, group)
                    assert cfg.submitter_bond - recovered >= cfg.submitter_bond * SLASH_LOSS_BPS // 10_000

        def _group_claims(self, submission_id: int, group: list[str]) -> int:
            return sum(1 for g, (_, challenger) in self.world.games.items()
                       if challenger in group and fn.getChallenge(g).call()[0] == submission_id)

    return GameMachine


def test_random_play_conserves_ether_and_honest_players_never_lose(toy_stack3: GameStack) -> None:
    accounts = toy_stack3.w3.eth.accounts
    actors = Actors(requesters=(accounts[1], accounts[7]), honest_submitter=accounts[2], liar=accounts[4],
                    honest_challenger=accounts[3], lying_challenger=accounts[5], sybil=accounts[6])
    machine = make_machine(toy_stack3, actors)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=8, stateful_step_count=18, derandomize=True, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
