"""Attack: a liar slashes itself through its own (sybil) challengers to win back its bond, and a contract slashes
and resubmits atomically so that the request is never Open between two transactions.

Both fail: whatever the order in which the games on a slashed result end, the liar and all its sybils together
lose at least 80% of the bond, every challenger of the slashed result is paid the same (its bond and an equal
share of the 20% reward), and no new result is taken while a game on the slashed one is open or in the slashing
transaction."""

from __future__ import annotations

import pytest
from chain_ledger import assert_conserved
from fixtures_game import (
    GameStack,
    advance_time,
    challenge,
    events,
    expect_revert,
    play,
    request,
    send,
    submit,
    toy_trace,
)

from opml.chain.contracts import deploy
from opml.game.settlement import slash_share
from opml.game.toy import Lie
from opml.game.types import Phase, Role

pytestmark = [pytest.mark.usefixtures("isolated_chain"), pytest.mark.attack]

LIE = frozenset({Lie((0, 5, 1), 7)})


def _credit(stack: GameStack, account: str) -> int:
    return stack.coordinator.functions.balanceOf(account).call()


@pytest.mark.parametrize("sybils", [1, 3])
@pytest.mark.parametrize("order", ["sybil-slashes-first", "honest-slashes-first", "sybil-game-left-open"])
def test_sybil_challengers_recover_at_most_the_reward(toy_stack3: GameStack, sybils: int, order: str) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    sybil_accounts = s.w3.eth.accounts[6:6 + sybils]
    request_id, _ = request(s)
    honest, liar = toy_trace(s, request_id), toy_trace(s, request_id, LIE)
    bad, _ = submit(s, request_id, liar)
    honest_game, _ = challenge(s, request_id, s.challenger)
    sybil_games = [challenge(s, request_id, a)[0] for a in sybil_accounts]

    # the liar plays its first sybil game to lose it, stalling the honest one; or the honest game ends first
    first = sybil_games[0] if order == "sybil-slashes-first" else honest_game
    played = play(s, first, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert played.final.phase is Phase.CHALLENGER_WON
    claimants = 1 + sybils
    (shared,) = events(s.coordinator.events.SlashShared, played.receipts[-1])
    assert shared["claimants"] == claimants and shared["submissionId"] == bad
    everyone = [*s.accounts.values(), *sybil_accounts]
    assert_conserved(s, everyone, "moot games still open")

    # every other game is moot; it ends by release (anyone) or by being played out — then the request reopens
    for game_id in [honest_game, *sybil_games]:
        if s.coordinator.functions.getChallenge(game_id).call()[2]:
            continue
        if order == "sybil-game-left-open" and game_id in sybil_games:
            expect_revert(s, s.coordinator.functions.submit(request_id, honest.claim_preimage(1), b"\1" * 32),
                          s.other, "SlashedGamesOpen", cfg.submitter_bond)
            advance_time(s.w3, cfg.clock_seconds + 1)  # the liar's sybil game runs out: still only moot
            receipt = send(s, s.game.functions.claimTimeout(game_id), s.other)
            assert events(s.coordinator.events.GameSettled, receipt)[0]["moot"]
        else:
            send(s, s.coordinator.functions.releaseGame(game_id), s.other)

    share = slash_share(cfg.submitter_bond, claimants)
    paid = {a: _credit(s, a) for a in [s.challenger, *sybil_accounts]}
    assert set(paid.values()) == {cfg.challenger_bond + share}, paid  # every challenger paid the same
    liar_loss = cfg.submitter_bond - sybils * share  # the sybils' bonds came back; the shares are all it recovers
    assert liar_loss >= cfg.submitter_bond * 8 // 10, (liar_loss, sybils)
    assert _credit(s, s.submitter) == 0
    submit(s, request_id, honest, s.other)  # every game on the slashed result ended: an honest result is taken
    assert_conserved(s, everyone, order)


def test_atomic_slash_and_resubmit_from_a_contract_is_refused(toy_stack3: GameStack) -> None:
    s, cfg = toy_stack3, toy_stack3.config
    sybil = s.w3.eth.accounts[6]
    attacker = deploy(s.w3, "SlashAndResubmit", sender=s.submitter)
    request_id, _ = request(s)
    honest, liar = toy_trace(s, request_id), toy_trace(s, request_id, LIE)
    submit(s, request_id, liar)
    sybil_game, _ = challenge(s, request_id, sybil)  # first: its submitter clock runs out first
    advance_time(s.w3, 100)
    honest_game, _ = challenge(s, request_id, s.challenger)
    advance_time(s.w3, cfg.clock_seconds - 50)  # the liar never moved: the sybil game is lost, the honest one not yet

    level0, _ = liar.open_next(0)
    attack = attacker.functions.attack(s.game.address, s.coordinator.address, sybil_game, [honest_game], request_id,
                                       liar.claim_preimage(1), level0.root_at(level0.length))
    expect_revert(s, attack, s.submitter, "ResubmitInSlashTransaction", cfg.submitter_bond)
    without_release = attacker.functions.attack(s.game.address, s.coordinator.address, sybil_game, [], request_id,
                                                liar.claim_preimage(1), level0.root_at(level0.length))
    expect_revert(s, without_release, s.submitter, "ResubmitInSlashTransaction", cfg.submitter_bond)

    # the slash alone goes through; the request is Open at the end of that transaction, and stays so until the
    # moot honest game has ended
    send(s, s.game.functions.claimTimeout(sybil_game), s.submitter)
    assert s.coordinator.functions.getRequest(request_id).call()[8] == 1  # Open
    expect_revert(s, s.coordinator.functions.submit(request_id, liar.claim_preimage(1), level0.root_at(level0.length)),
                  s.submitter, "SlashedGamesOpen", cfg.submitter_bond)
    send(s, s.coordinator.functions.releaseGame(honest_game), s.challenger)
    share = slash_share(cfg.submitter_bond, 2)
    assert _credit(s, s.challenger) == _credit(s, sybil) == cfg.challenger_bond + share
    submit(s, request_id, honest, s.other)  # an honest submitter gets in
    assert_conserved(s, [*s.accounts.values(), sybil, attacker.address])
