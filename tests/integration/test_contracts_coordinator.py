"""Coordinator on Anvil: requests, results, challenges, settlement of bonds and fees, finalization; every rejected
input names its error; ether is conserved (minus gas, plus the burned share); an unanswered request is cancelled
by its requester after its deadline for an exact refund."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_abi import encode
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError
from fixtures_game import (BURN_ADDRESS, GameStack, advance_time, challenge, deploy_game, events, expect_revert, now,
                           play, read_view, request, send, set_next_timestamp, submit, toy_trace)

from opml.chain.bindings import CoordinatorContract, RequestStatus
from opml.chain.tx import ContractRevert, revert_data
from opml.game.toy import Lie, ToyTrace
from opml.game.settlement import slash_burned, slash_share
from opml.hashing import keccak
from opml.game.types import Phase, Role

pytestmark = pytest.mark.usefixtures("isolated_chain")

OPEN, SUBMITTED, FINALIZED, CANCELLED = 1, 2, 3, 4  # request status
PENDING, SLASHED = 1, 2  # submission status


class Ledger:
    """Ether held by the stack's accounts, its contracts and the burn address, checked for conservation."""

    def __init__(self, stack: GameStack) -> None:
        self.stack = stack
        self.addresses = [*stack.accounts.values(), stack.coordinator.address, stack.game.address, BURN_ADDRESS]
        stack.fees_paid.clear()
        self.before = self.balances()

    def balances(self) -> dict[str, int]:
        return {a: self.stack.w3.eth.get_balance(a) for a in self.addresses}

    def change(self, address: str) -> int:
        """Balance change of `address` since the ledger opened, gas fees it paid added back."""
        return self.stack.w3.eth.get_balance(address) - self.before[address] + self.stack.fees_paid.get(address, 0)

    def assert_conserved(self) -> None:
        after = self.balances()
        fees = sum(self.stack.fees_paid.values())
        assert sum(after.values()) + fees == sum(self.before.values())


def credit(stack: GameStack, account: str) -> int:
    return stack.coordinator.functions.balanceOf(account).call()


def withdraw_all(stack: GameStack, accounts: list[str]) -> None:
    for account in accounts:
        if credit(stack, account):
            send(stack, stack.coordinator.functions.withdraw(), account)


def burned(stack: GameStack, amount: int) -> int:
    return amount * stack.config.burn_bps // 10_000


def request_status(stack: GameStack, request_id: int) -> int:
    return stack.coordinator.functions.getRequest(request_id).call()[8]


def submission_status(stack: GameStack, submission_id: int) -> int:
    return stack.coordinator.functions.getSubmission(submission_id).call()[6]


# -- the optimistic path ----------------------------------------------------------------------------------------
def test_unchallenged_result_finalizes_and_pays_fee_and_bond(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    ledger = Ledger(s)
    request_id, _ = request(s)
    trace = toy_trace(s, request_id)
    submission_id, _ = submit(s, request_id, trace)
    fn = s.coordinator.functions
    expect_revert(s, fn.finalize(request_id), s.other, "WindowOpen")
    advance_time(s.w3, cfg.challenge_window + 1)
    expect_revert(s, fn.challenge(request_id), s.challenger, "WindowClosed", cfg.challenger_bond)
    receipt = send(s, fn.finalize(request_id), s.other)
    (final,) = events(s.coordinator.events.Finalized, receipt)
    assert final["submitter"] == s.submitter and final["outputCommitment"] == read_submission(s, submission_id)[2]
    assert request_status(s, request_id) == FINALIZED and submission_status(s, submission_id) == 3
    assert credit(s, s.submitter) == cfg.model_fee + cfg.submitter_bond
    expect_revert(s, fn.finalize(request_id), s.other, "AlreadyFinalized")
    expect_revert(s, fn.challenge(request_id), s.challenger, "AlreadyFinalized", cfg.challenger_bond)
    expect_revert(s, fn.submit(request_id, b"x", b"\0" * 32), s.other, "AlreadyFinalized", cfg.submitter_bond)

    withdraw_all(s, [s.submitter])
    expect_revert(s, fn.withdraw(), s.submitter, "NothingToWithdraw")
    assert ledger.change(s.submitter) == cfg.model_fee
    assert ledger.change(s.requester) == -cfg.model_fee
    assert s.w3.eth.get_balance(s.coordinator.address) == 0
    ledger.assert_conserved()


def read_submission(stack: GameStack, submission_id: int):
    return stack.coordinator.functions.getSubmission(submission_id).call()


def test_request_records_commitments_and_rejects_bad_input(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    fn = s.coordinator.functions
    zero = "0x" + "00" * 20
    assert expect_revert(s, fn.request(s.model_id, b"in", zero, 0), s.requester, "FeeTooLow",
                         cfg.model_fee - 1).arguments == (cfg.model_fee, cfg.model_fee - 1)
    expect_revert(s, fn.request(99, b"in", zero, 0), s.requester, "UnknownModel", cfg.model_fee)
    expect_revert(s, fn.request(s.model_id, b"\1" * (cfg.max_input_bytes + 1), zero, 0), s.requester,
                  "InputTooLarge", cfg.model_fee)
    expect_revert(s, fn.request(s.model_id, b"in", zero, cfg.max_callback_gas + 1), s.requester,
                  "CallbackGasTooHigh", cfg.model_fee)
    request_id, receipt = request(s, b"some input", fee=cfg.model_fee + 5)
    (created,) = events(s.coordinator.events.RequestCreated, receipt)
    assert created["fee"] == cfg.model_fee + 5 and created["input"] == b"some input"
    roots = s.registry.functions.modelRoots(s.model_id).call()[:3]
    assert created["inputCommitment"] == keccak(b"some input")
    assert created["anchor"] == keccak(encode(["bytes32"] * 4, [*roots, keccak(b"some input")]))
    assert request_status(s, request_id) == OPEN


def test_submit_and_challenge_reject_bad_bonds_and_states(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    fn = s.coordinator.functions
    request_id, _ = request(s)
    trace = toy_trace(s, request_id)
    output, end = trace.claim_preimage(1), trace.open_next(0)[0].root_at(8)
    expect_revert(s, fn.submit(7, output, end), s.submitter, "UnknownRequest", cfg.submitter_bond)
    expect_revert(s, fn.challenge(request_id), s.challenger, "NoActiveSubmission", cfg.challenger_bond)
    expect_revert(s, fn.finalize(request_id), s.other, "NoActiveSubmission")
    assert expect_revert(s, fn.submit(request_id, output, end), s.submitter, "BondWrong",
                         cfg.submitter_bond - 1).arguments == (cfg.submitter_bond, cfg.submitter_bond - 1)
    expect_revert(s, fn.submit(request_id, output, end), s.submitter, "BondWrong", cfg.submitter_bond + 1)
    submission_id, _ = submit(s, request_id, trace)
    assert expect_revert(s, fn.submit(request_id, output, end), s.other, "AlreadySubmitted",
                         cfg.submitter_bond).arguments == (request_id, submission_id)
    expect_revert(s, fn.challenge(request_id), s.challenger, "BondWrong", cfg.challenger_bond + 1)
    expect_revert(s, fn.challenge(request_id), s.challenger, "BondWrong", 0)
    expect_revert(s, fn.challenge(request_id), s.submitter, "SelfChallenge", cfg.challenger_bond)
    expect_revert(s, fn.challenge(99), s.challenger, "UnknownRequest", cfg.challenger_bond)
    game_id, _ = challenge(s, request_id)
    advance_time(s.w3, cfg.challenge_window + 1)
    assert expect_revert(s, fn.finalize(request_id), s.other, "GamesPending").arguments == (1,)
    expect_revert(s, fn.releaseGame(game_id), s.other, "GameNotMoot")
    expect_revert(s, fn.releaseGame(42), s.other, "UnknownGame")


# -- disputes and settlement ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TwoChallenges:
    request_id: int
    honest: ToyTrace
    submitted: ToyTrace
    submission_id: int
    games: tuple[int, int]


def submitted_and_challenged_twice(s: GameStack, lies: frozenset = frozenset()) -> TwoChallenges:
    """A request, the submitter's result (the honest one, or with `lies`), challenged by challenger (first game)
    and challenger2 (second game)."""
    request_id, _ = request(s)
    honest = toy_trace(s, request_id)
    submitted = toy_trace(s, request_id, lies) if lies else honest
    submission_id, _ = submit(s, request_id, submitted)
    games = (challenge(s, request_id, s.challenger)[0], challenge(s, request_id, s.challenger2)[0])
    return TwoChallenges(request_id, honest, submitted, submission_id, games)


def test_slashed_submitter_pays_the_winner_request_reopens_and_moot_games_are_released(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    ledger = Ledger(s)
    fn = s.coordinator.functions
    setup = submitted_and_challenged_twice(s, frozenset({Lie((0, 5, 1), 7)}))
    request_id, honest, liar, bad_submission, (game1, game2) = (setup.request_id, setup.honest, setup.submitted,
                                                                 setup.submission_id, setup.games)
    assert read_submission(s, bad_submission)[5] == 2  # open games

    played = play(s, game1, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert played.final.phase is Phase.CHALLENGER_WON
    (slashed,) = events(s.coordinator.events.Slashed, played.receipts[-1])
    assert slashed["challenger"] == s.challenger and slashed["submitter"] == s.submitter
    assert submission_status(s, bad_submission) == SLASHED and request_status(s, request_id) == OPEN
    # two claimants (the winner and the game the slash made moot) share SLASH_REWARD_BPS of the bond
    share, burn = slash_share(cfg.submitter_bond, 2), slash_burned(cfg.submitter_bond, 2)
    assert share == cfg.submitter_bond // 10 and burn == cfg.submitter_bond * 8 // 10
    assert events(s.coordinator.events.SlashShared, played.receipts[-1])[0]["rewardShare"] == share
    assert credit(s, s.challenger) == cfg.challenger_bond + share
    assert credit(s, s.submitter) == 0
    assert ledger.change(BURN_ADDRESS) == burn == s.coordinator.functions.totalBurned().call()
    # no new result while a game on the slashed one is open
    expect_revert(s, fn.submit(request_id, honest.claim_preimage(1), b"\1" * 32), s.other, "SlashedGamesOpen",
                  cfg.submitter_bond)

    # the other game on the slashed result is moot: released by anyone, bond back, no more moves
    view = read_view(s, game2)
    assert view.moot and not view.settled
    receipt = send(s, fn.releaseGame(game2), s.other)
    assert events(s.game.events.GameCancelled, receipt)[0]["gameId"] == game2
    assert read_view(s, game2).phase is Phase.CANCELLED
    assert credit(s, s.challenger2) == cfg.challenger_bond + share  # paid the same as the winner
    expect_revert(s, fn.releaseGame(game2), s.other, "ChallengeSettled")
    expect_revert(s, s.game.functions.claimTimeout(game2), s.other, "GameOver")

    # the reopened request takes a new (honest) result, which finalizes
    good_submission, _ = submit(s, request_id, honest, s.other)
    advance_time(s.w3, cfg.challenge_window)
    send(s, fn.finalize(request_id), s.requester)
    assert credit(s, s.other) == cfg.model_fee + cfg.submitter_bond
    assert submission_status(s, good_submission) == 3

    withdraw_all(s, list(s.accounts.values()))
    assert ledger.change(s.challenger) == ledger.change(s.challenger2) == share
    assert ledger.change(s.submitter) == -cfg.submitter_bond
    assert ledger.change(s.other) == cfg.model_fee
    assert s.w3.eth.get_balance(s.coordinator.address) == 0
    ledger.assert_conserved()


def test_lying_challengers_lose_their_bonds_to_the_honest_submitter(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    ledger = Ledger(s)
    fn = s.coordinator.functions
    setup = submitted_and_challenged_twice(s)
    request_id, honest, (game1, game2) = setup.request_id, setup.honest, setup.games
    liar1 = toy_trace(s, request_id, frozenset({Lie((0,), 2)}))
    liar2 = toy_trace(s, request_id, frozenset({Lie((0, 7, 3), 16)}))
    assert play(s, game1, {Role.SUBMITTER: honest, Role.CHALLENGER: liar1}).final.phase is Phase.SUBMITTER_WON
    advance_time(s.w3, cfg.challenge_window + 1)
    expect_revert(s, fn.finalize(request_id), s.other, "GamesPending")
    # the second liar goes silent at its first pick: the submitter claims the timeout
    played = play(s, game2, {Role.SUBMITTER: honest, Role.CHALLENGER: liar2}, stop_at=Phase.PICK)
    assert played.final.phase is Phase.PICK
    advance_time(s.w3, cfg.clock_seconds + 1)
    send(s, s.game.functions.claimTimeout(game2), s.submitter)
    send(s, fn.finalize(request_id), s.other)

    per_game = cfg.challenger_bond - burned(s, cfg.challenger_bond)
    assert credit(s, s.submitter) == 2 * per_game + cfg.model_fee + cfg.submitter_bond
    withdraw_all(s, [s.submitter])
    assert ledger.change(s.submitter) == 2 * per_game + cfg.model_fee
    assert ledger.change(s.challenger) == ledger.change(s.challenger2) == -cfg.challenger_bond
    assert ledger.change(BURN_ADDRESS) == 2 * burned(s, cfg.challenger_bond)
    ledger.assert_conserved()


def test_silent_submitter_is_slashed_by_timeout(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    request_id, _ = request(s)
    submission_id, _ = submit(s, request_id, toy_trace(s, request_id))
    game_id, _ = challenge(s, request_id)
    advance_time(s.w3, cfg.clock_seconds + 1)
    receipt = send(s, s.game.functions.claimTimeout(game_id), s.other)
    assert events(s.coordinator.events.GameSettled, receipt)[0]["submitterWon"] is False
    assert submission_status(s, submission_id) == SLASHED and request_status(s, request_id) == OPEN
    assert credit(s, s.challenger) == cfg.challenger_bond + slash_share(cfg.submitter_bond, 1)
    assert s.coordinator.functions.totalBurned().call() == slash_burned(cfg.submitter_bond, 1)


# -- expiry and cancellation -------------------------------------------------------------------------------------
def deadline_of(stack: GameStack, request_id: int) -> int:
    return stack.coordinator.functions.deadlineOf(request_id).call()


def cancel_at(stack: GameStack, request_id: int, timestamp: int):  # noqa: ANN201
    """The requester's `cancelRequest` mined in a block of exactly `timestamp` (gas given: no estimate, which
    would run at another time); returns the receipt or raises the decoded ContractRevert."""
    set_next_timestamp(stack.w3, timestamp)
    return send(stack, stack.coordinator.functions.cancelRequest(request_id), stack.requester, gas=200_000)


def test_request_deadline_is_its_creation_time_plus_the_timeout(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    assert s.coordinator.functions.requestTimeout().call() == cfg.request_timeout > 0
    request_id, receipt = request(s)
    mined_at = s.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert s.coordinator.functions.getRequest(request_id).call()[1] == mined_at  # createdAt
    assert deadline_of(s, request_id) == mined_at + cfg.request_timeout
    assert deadline_of(s, 99) == 0
    bound = CoordinatorContract(s.w3, s.coordinator.address)  # the typed binding reads the same
    assert bound.request_timeout() == cfg.request_timeout
    assert bound.deadline_of(request_id) == mined_at + cfg.request_timeout
    read = bound.get_request(request_id)
    assert (read.created_at, read.status, read.fee) == (mined_at, RequestStatus.OPEN, cfg.model_fee)
    advance_time(s.w3, cfg.request_timeout)
    send(s, bound.cancel_request(request_id), s.requester)
    assert bound.get_request(request_id).status is RequestStatus.CANCELLED


def test_cancel_is_rejected_early_for_others_with_a_pending_result_and_once_over(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    fn = s.coordinator.functions
    request_id, _ = request(s)
    deadline = deadline_of(s, request_id)
    expect_revert(s, fn.cancelRequest(99), s.requester, "UnknownRequest")
    with pytest.raises(ContractRevert) as info:
        cancel_at(s, request_id, deadline - 1)
    assert (info.value.name, info.value.arguments) == ("RequestNotExpired", (deadline,))
    assert request_status(s, request_id) == OPEN
    advance_time(s.w3, cfg.request_timeout)
    (caller,) = expect_revert(s, fn.cancelRequest(request_id), s.other, "NotRequester").arguments
    assert Web3.to_checksum_address(caller) == s.other
    submit(s, request_id, toy_trace(s, request_id))
    assert expect_revert(s, fn.cancelRequest(request_id), s.requester,
                         "RequestNotOpen").arguments == (SUBMITTED,)
    advance_time(s.w3, cfg.challenge_window + 1)
    send(s, fn.finalize(request_id), s.other)
    assert expect_revert(s, fn.cancelRequest(request_id), s.requester,
                         "RequestNotOpen").arguments == (FINALIZED,)
    assert request_status(s, request_id) == FINALIZED


def test_expired_request_is_cancelled_with_its_fee_refunded_exactly(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    fn = s.coordinator.functions
    ledger = Ledger(s)
    fee = cfg.model_fee + 7
    request_id, _ = request(s, fee=fee)
    receipt = cancel_at(s, request_id, deadline_of(s, request_id))
    (cancelled,) = events(s.coordinator.events.RequestCancelled, receipt)
    assert (cancelled["requestId"], cancelled["requester"], cancelled["refund"]) == (request_id, s.requester, fee)
    assert request_status(s, request_id) == CANCELLED
    assert credit(s, s.requester) == fee

    # a cancelled request is over: no result, challenge, finalization or second refund
    trace = toy_trace(s, request_id)
    output, end = trace.claim_preimage(1), trace.open_next(0)[0].root_at(8)
    assert expect_revert(s, fn.submit(request_id, output, end), s.submitter, "AlreadyCancelled",
                         cfg.submitter_bond).arguments == (request_id,)
    expect_revert(s, fn.challenge(request_id), s.challenger, "AlreadyCancelled", cfg.challenger_bond)
    expect_revert(s, fn.finalize(request_id), s.other, "AlreadyCancelled")
    assert expect_revert(s, fn.cancelRequest(request_id), s.requester,
                         "RequestNotOpen").arguments == (CANCELLED,)

    withdraw_all(s, [s.requester])
    assert ledger.change(s.requester) == 0
    assert ledger.change(s.submitter) == ledger.change(s.challenger) == 0
    assert s.w3.eth.get_balance(s.coordinator.address) == 0
    ledger.assert_conserved()


def test_slashed_and_reopened_request_can_be_cancelled_after_its_deadline(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    fn = s.coordinator.functions
    ledger = Ledger(s)
    request_id, _ = request(s)
    deadline = deadline_of(s, request_id)
    honest = toy_trace(s, request_id)
    liar = toy_trace(s, request_id, frozenset({Lie((0, 5, 1), 7)}))
    submit(s, request_id, liar)
    game_id, _ = challenge(s, request_id)
    assert play(s, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest}).final.phase is Phase.CHALLENGER_WON
    assert request_status(s, request_id) == OPEN
    assert now(s.w3) < deadline
    expect_revert(s, fn.cancelRequest(request_id), s.requester, "RequestNotExpired")

    cancel_at(s, request_id, deadline)
    assert request_status(s, request_id) == CANCELLED
    assert credit(s, s.requester) == cfg.model_fee

    withdraw_all(s, list(s.accounts.values()))
    burn = slash_burned(cfg.submitter_bond, 1)
    assert ledger.change(s.requester) == 0
    assert ledger.change(s.submitter) == -cfg.submitter_bond
    assert ledger.change(s.challenger) == slash_share(cfg.submitter_bond, 1)
    assert ledger.change(BURN_ADDRESS) == burn
    assert s.w3.eth.get_balance(s.coordinator.address) == 0
    ledger.assert_conserved()


def test_coordinator_rejects_a_zero_request_timeout(toy_stack3: GameStack) -> None:
    s = toy_stack3
    config = replace(s.config, request_timeout=0)
    with pytest.raises(ContractLogicError) as info:
        deploy_game(s.w3, config, [c.address for c in s.link_verifiers], config.max_depths,
                    s.step_verifier.address, lambda _: s.commitment.address, s.admin)
    revert = s.errors.decode(revert_data(info.value) or b"")
    assert (revert.name, revert.arguments) == ("BadRequestTimeout", (0,))


def test_the_bindings_read_views_as_web3_does(toy_stack3: GameStack) -> None:
    """CoordinatorContract decodes its views itself (cheaper than web3's contract calls): the same values."""
    s = toy_stack3
    request_id, _ = request(s)
    submission_id, _ = submit(s, request_id, toy_trace(s, request_id))
    game_id, _ = challenge(s, request_id)
    bound, fn = CoordinatorContract(s.w3, s.coordinator.address), s.coordinator.functions
    reads = [("getRequest", request_id), ("getSubmission", submission_id), ("getChallenge", game_id),
             ("lastSlashed", request_id), ("balanceOf", s.submitter), ("submitterBond",), ("burnAddress",),
             ("deadlineOf", request_id), ("game",), ("registry",)]
    for name, *args in reads:
        assert bound._read(name, *args) == getattr(fn, name)(*args).call(), name
    assert bound.get_request(request_id).requester == s.requester  # checksummed, as web3 gives it


def test_a_view_of_an_address_without_code_raises_as_web3_does(toy_stack3: GameStack) -> None:
    nowhere = CoordinatorContract(toy_stack3.w3, "0x" + "ab" * 20)
    with pytest.raises(BadFunctionCallOutput):
        nowhere.get_request(1)
