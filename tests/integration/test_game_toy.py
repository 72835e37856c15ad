"""End-to-end toy games on Anvil: the solver, bindings, TxSender and driver against the real contracts.

Every fault class of a lying party (first, middle, last positions at every level, broken level starts, forged
links and lengths) loses to the honest party; bonds land as docs/game.md says and, gas included, no wei is
created or lost across the parties, the coordinator and the burn address.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from structlog.testing import capture_logs
from fixtures_game import BURN_ADDRESS, GameStack
from toy_faults import one_lie_per_place
from web3 import Web3

from opml.game.settlement import slash_share
from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.bindings import GameBindings, RequestStatus, SubmissionStatus
from opml.chain.tx import ETHER, TxSender
from opml.game.toy import Fault, ForgeLink, Lie, ToyTrace, WrongStart
from opml.game.types import Phase, Role
from opml.hashing import keccak
from opml.stacks.driver import GameDriver, GameLog, GameStalled, Party, anvil_warp, chain_time
from opml.stacks.toy import ToyStack, ToyStackConfig, deploy_toy_stack

LAST = (0, 5, 2)  # a level-2 (last level) sub-trace of the 8/4/16 stack
LIES = one_lie_per_place((8, 4, 16), LAST)
FORGERIES = {
    "output not the trace's projection": (ForgeLink((), 1), "LinkProofInvalid(ToyProjectionMismatch)"),
    "link level 0 → 1": (ForgeLink((0,), 1), "LinkProofInvalid(ToyProjectionMismatch)"),
    "link level 1 → 2": (ForgeLink((0, 4), 4), "LinkProofInvalid(ToyProjectionMismatch)"),
    "length level 0 → 1": (ForgeLink((0,), 3, "length"), "LinkProofInvalid(ToyLengthMismatch)"),
    "length level 1 → 2": (ForgeLink((0, 2), 2, "length"), "LinkProofInvalid(ToyLengthMismatch)"),
}


def as_toy_stack(stack: GameStack, w3: Web3) -> ToyStack:
    """The fixture's deployment seen through the package's toy-stack helpers (same parameters)."""
    c = stack.config
    config = ToyStackConfig(level_lengths=c.level_lengths, max_depths=c.max_depths, checkpoint_count=c.checkpoint_count,
                            clock_seconds=c.clock_seconds, challenge_window=c.challenge_window,
                            submitter_bond=c.submitter_bond, challenger_bond=c.challenger_bond, burn_bps=c.burn_bps,
                            model_fee=c.model_fee)
    return ToyStack(GameBindings.at(w3, stack.coordinator.address), config, stack.model_id)


@dataclass
class Table:
    """One toy request on a deployed stack, with the named parties' senders."""

    stack: ToyStack
    w3: Web3
    senders: dict[str, TxSender]
    request_id: int
    anchor: bytes

    def trace(self, *faults: Fault) -> ToyTrace:
        return self.stack.trace(self.anchor, frozenset(faults))

    def submit(self, trace: ToyTrace, who: str = "submitter") -> None:
        self.stack.submit(self.senders[who], self.request_id, trace)

    def challenge(self, who: str) -> int:
        return self.stack.challenge(self.senders[who], self.request_id)[0]

    def driver(self) -> GameDriver:
        return GameDriver(self.stack.bindings, chain_time(self.w3), anvil_warp(self.w3))

    def party(self, role: Role, who: str, trace: ToyTrace) -> Party:
        return Party(role, self.senders[who], trace, who)


class Ledger:
    """Wei held by the test accounts, the coordinator and the burn address, and the gas those accounts paid
    (from the receipts of every transaction they sent) since the ledger was opened."""

    def __init__(self, table: Table) -> None:
        self.w3 = table.w3
        self.senders = {s.address for s in table.senders.values()}
        self.holders = [*self.senders, table.stack.bindings.coordinator.address, BURN_ADDRESS]
        self.first_block = self.w3.eth.block_number + 1
        self.opening = self.held()

    def held(self) -> int:
        return sum(self.w3.eth.get_balance(a) for a in self.holders)

    def gas_paid(self) -> int:
        fees = 0
        for number in range(self.first_block, self.w3.eth.block_number + 1):
            for tx in self.w3.eth.get_block(number, full_transactions=True)["transactions"]:
                if tx["from"] in self.senders:
                    receipt = self.w3.eth.get_transaction_receipt(tx["hash"])
                    fees += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        return fees

    def assert_conserved(self) -> None:
        assert self.held() + self.gas_paid() == self.opening


@pytest.fixture
def table(toy_stack3: GameStack, isolated_chain: Web3) -> Table:
    stack, w3 = toy_stack3, isolated_chain
    keys = {"requester": DEV_PRIVATE_KEYS[1], "submitter": DEV_PRIVATE_KEYS[2], "challenger": DEV_PRIVATE_KEYS[3],
            "challenger2": DEV_PRIVATE_KEYS[4]}
    for i in (3, 4):
        keys[f"challenger{i}"] = "0x" + keccak(f"opml.test.challenger{i}".encode()).hex()
    for name, key in keys.items():
        address = Account.from_key(key).address
        if name in stack.accounts:
            assert stack.accounts[name] == address, f"dev key of {name} does not match the stack's account"
        else:
            w3.provider.make_request("anvil_setBalance", [address, hex(100 * ETHER)])
    toy = as_toy_stack(stack, w3)
    senders = {name: TxSender(w3, key, toy.bindings.errors()) for name, key in keys.items()}
    request_id, anchor = toy.request(senders["requester"], b"toy input")
    return Table(toy, w3, senders, request_id, anchor)


def _play_one(table: Table, submitter: ToyTrace, challenger: ToyTrace) -> tuple[int, GameLog]:
    table.submit(submitter)
    game_id = table.challenge("challenger")
    log = table.driver().play({game_id: [table.party(Role.SUBMITTER, "submitter", submitter),
                                         table.party(Role.CHALLENGER, "challenger", challenger)]})
    return game_id, log


@pytest.mark.parametrize("fault", list(LIES))
def test_lying_submitter_loses_and_is_slashed(table: Table, fault: str) -> None:
    ledger = Ledger(table)
    game_id, log = _play_one(table, table.trace(LIES[fault]), table.trace())
    view = log.outcomes[game_id]
    assert view.phase is Phase.CHALLENGER_WON and view.settled
    assert [m.action for m in log.moves_in(game_id)][-1] == "Step"
    assert not [r for r in log.rejections if r.party == "challenger"]
    _assert_slashed(table, "challenger")
    ledger.assert_conserved()


@pytest.mark.parametrize("fault", list(LIES))
def test_lying_challenger_loses_its_bond(table: Table, fault: str) -> None:
    ledger = Ledger(table)
    game_id, log = _play_one(table, table.trace(), table.trace(LIES[fault]))
    view = log.outcomes[game_id]
    assert view.phase is Phase.SUBMITTER_WON and view.settled
    assert log.moves_in(game_id)[-1].party == "submitter"
    assert not [r for r in log.rejections if r.party == "submitter"]
    _assert_submitter_paid(table, games=1)
    ledger.assert_conserved()


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_link_is_refused_and_the_forger_times_out(table: Table, forgery: str) -> None:
    fault, error = FORGERIES[forgery]
    ledger = Ledger(table)
    game_id, log = _play_one(table, table.trace(fault), table.trace())
    view = log.outcomes[game_id]
    assert view.phase is Phase.CHALLENGER_WON and log.time_warps >= 1
    assert log.moves_in(game_id)[-1] == log.moves[-1] and log.moves[-1].action == "ClaimTimeout"
    assert {r.error for r in log.rejections if r.party == "submitter"} == {error}
    _assert_slashed(table, "challenger")
    ledger.assert_conserved()


def test_lying_submitter_against_three_challengers_pays_one(table: Table) -> None:
    """Two honest challengers and one with its own lie: the first honest win slashes, the rest are moot."""
    ledger = Ledger(table)
    liar = table.trace(Lie(LAST, 3))
    table.submit(liar)
    crew = {"challenger": table.trace(), "challenger2": table.trace(WrongStart((0, 1))),
            "challenger3": table.trace()}
    games = {table.challenge(who): [table.party(Role.SUBMITTER, "submitter", liar),
                                    table.party(Role.CHALLENGER, who, trace)] for who, trace in crew.items()}
    log = table.driver().play(games)
    outcomes = {g: log.outcomes[g] for g in games}
    c = table.stack.bindings.coordinator
    assert all(v.settled for v in outcomes.values())
    submission = c.get_submission(1)
    assert submission.status is SubmissionStatus.SLASHED
    assert c.get_request(table.request_id).status is RequestStatus.OPEN
    bonds = table.stack.config
    (slash,) = c.contract.events.Slashed.get_logs(from_block=ledger.first_block)
    winner = next(who for who, s in table.senders.items() if s.address == slash["args"]["challenger"])
    assert winner in ("challenger", "challenger3")
    settled = {e["args"]["gameId"]: e["args"] for e in c.contract.events.GameSettled.get_logs(
        from_block=ledger.first_block)}
    released = {e["args"]["gameId"] for e in c.contract.events.GameReleased.get_logs(from_block=ledger.first_block)}
    for game_id, (_, party) in games.items():
        if party.name == winner:
            assert outcomes[game_id].phase is Phase.CHALLENGER_WON and not settled[game_id]["moot"]
        else:  # moot: released by its challenger once the submission was slashed; bond and reward share returned
            assert game_id in released and outcomes[game_id].phase is Phase.CANCELLED, game_id
    share = slash_share(bonds.submitter_bond, len(games))  # every challenger of the slashed result is a claimant
    for who in crew:
        assert c.balance_of(table.senders[who].address) == bonds.challenger_bond + share, who
    assert c.balance_of(table.senders["submitter"].address) == 0
    _withdraw_all(table)
    ledger.assert_conserved()


def test_honest_submitter_beats_three_challengers_and_finalizes(table: Table) -> None:
    """Two lying challengers and one that disputes a correct result with a correct trace: all lose; the result
    finalizes after the window and the submitter collects fee, bond and the losers' bonds (less the burn)."""
    ledger = Ledger(table)
    honest = table.trace()
    table.submit(honest)
    crew = {"challenger": table.trace(Lie(LAST, 16)), "challenger2": table.trace(Lie((0,), 2)),
            "challenger3": table.trace()}
    games = {table.challenge(who): [table.party(Role.SUBMITTER, "submitter", honest),
                                    table.party(Role.CHALLENGER, who, trace)] for who, trace in crew.items()}
    log = table.driver().play(games)
    assert all(log.outcomes[g].phase is Phase.SUBMITTER_WON for g in games)
    c, bonds = table.stack.bindings.coordinator, table.stack.config
    sender = table.senders["submitter"]
    window_end = c.get_submission(1).window_end
    anvil_warp(table.w3)(max(1, window_end - chain_time(table.w3)() + 1))
    sender.send(c.finalize(table.request_id))
    assert c.get_request(table.request_id).status is RequestStatus.FINALIZED
    won = 3 * (bonds.challenger_bond - bonds.challenger_bond * bonds.burn_bps // 10_000)
    assert c.balance_of(sender.address) == won + bonds.submitter_bond + bonds.model_fee
    assert all(c.balance_of(table.senders[who].address) == 0 for who in crew)
    _withdraw_all(table)
    ledger.assert_conserved()


# -- helpers --------------------------------------------------------------------------------------------------
def _assert_slashed(table: Table, winner: str) -> None:
    c, bonds = table.stack.bindings.coordinator, table.stack.config
    assert c.balance_of(table.senders[winner].address) == bonds.challenger_bond + slash_share(bonds.submitter_bond, 1)
    assert c.balance_of(table.senders["submitter"].address) == 0
    assert c.get_submission(1).status is SubmissionStatus.SLASHED
    assert c.get_request(table.request_id).status is RequestStatus.OPEN
    _withdraw_all(table)


def _assert_submitter_paid(table: Table, games: int) -> None:
    c, bonds = table.stack.bindings.coordinator, table.stack.config
    burned = bonds.challenger_bond * bonds.burn_bps // 10_000
    assert c.balance_of(table.senders["submitter"].address) == games * (bonds.challenger_bond - burned)
    assert c.balance_of(table.senders["challenger"].address) == 0
    assert c.get_submission(1).status is SubmissionStatus.PENDING
    _withdraw_all(table)


def _withdraw_all(table: Table) -> None:
    c = table.stack.bindings.coordinator
    for sender in table.senders.values():
        if c.balance_of(sender.address):
            sender.send(c.withdraw())
            assert c.balance_of(sender.address) == 0


def test_two_pow_twenty_single_level_dispute_takes_five_rounds(toy_stack: GameStack, isolated_chain: Web3) -> None:
    """The default N = 15 over 2^20 steps: challenge, open (+ first checkpoints), pick, 4 × (bisect, pick), step."""
    w3 = isolated_chain
    stack = as_toy_stack(toy_stack, w3)
    errors = stack.bindings.errors()
    requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
    request_id, anchor = stack.request(requester, b"big")
    liar, honest = stack.trace(anchor, frozenset({Lie((0,), 123_457)})), stack.trace(anchor)
    stack.submit(submitter, request_id, liar)
    game_id, _ = stack.challenge(challenger, request_id)
    log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
        Party(Role.SUBMITTER, submitter, liar, "submitter"), Party(Role.CHALLENGER, challenger, honest, "challenger")]})
    assert log.outcomes[game_id].phase is Phase.CHALLENGER_WON
    actions = [m.action for m in log.moves_in(game_id)]
    assert actions == ["OpenLevel", "PickSegment"] + ["PostCheckpoints", "PickSegment"] * 4 + ["Step"]
    assert 1 + len(actions) == 12 and not log.rejections


def test_driver_without_time_travel_reports_a_stalled_game(table: Table) -> None:
    """Honest result, honest challenger: nobody has a move until a clock runs out, which only time can bring."""
    honest = table.trace()
    table.submit(honest)
    game_id = table.challenge("challenger")
    parties = [table.party(Role.SUBMITTER, "submitter", honest), table.party(Role.CHALLENGER, "challenger", honest)]
    driver = GameDriver(table.stack.bindings, chain_time(table.w3), warp=None)
    with capture_logs() as events:
        with pytest.raises(GameStalled):
            driver.play({game_id: parties})
    assert [(e["event"], e.get("action")) for e in events if e["event"] == "move_sent"] == [("move_sent", "OpenLevel")]
    assert table.stack.bindings.read_game(game_id).phase is Phase.PICK


def test_deploy_toy_stack_plays_a_game(isolated_chain: Web3, contracts_built: None) -> None:
    """The package's own toy deployment (bench, demo) is configured as asked and plays to the right end."""
    w3 = isolated_chain
    stack = deploy_toy_stack(w3, ToyStackConfig(level_lengths=(4, 8), max_depths=(2, 3), checkpoint_count=1))
    game = stack.bindings.game
    assert (game.num_levels(), game.checkpoint_count()) == (2, 1)
    errors = stack.bindings.errors()
    requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
    request_id, anchor = stack.request(requester, b"deployed")
    liar, honest = stack.trace(anchor, frozenset({Lie((0, 2), 5)})), stack.trace(anchor)
    stack.submit(submitter, request_id, liar)
    game_id, _ = stack.challenge(challenger, request_id)
    log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
        Party(Role.SUBMITTER, submitter, liar, "submitter"), Party(Role.CHALLENGER, challenger, honest, "challenger")]})
    assert log.outcomes[game_id].phase is Phase.CHALLENGER_WON
    assert [m.action for m in log.moves_in(game_id)].count("PickSegment") == 2 + 3  # N = 1: binary bisection
