"""What the Coordinator holds, recomputed from its public state: ETH conservation for the adversarial and
property tests (contract balance = credits + bonds + fees held)."""

from __future__ import annotations

from collections.abc import Iterable

from fixtures_game import BURN_ADDRESS, GameStack

OPEN, SUBMITTED = 1, 2  # request status
PENDING = 1  # submission status


def held(stack: GameStack) -> dict[str, int]:
    """Fees of requests still open or answered but not final, bonds of pending submissions and of challenges
    not settled, and the slash reward shares owed to moot games not yet ended."""
    fn = stack.coordinator.functions
    fees = sum(r[3] for r in (fn.getRequest(i).call() for i in range(1, fn.requestCount().call() + 1))
               if r[8] in (OPEN, SUBMITTED))
    submissions = sum(1 for i in range(1, fn.submissionCount().call() + 1) if fn.getSubmission(i).call()[6] == PENDING)
    open_games = [c for c in (fn.getChallenge(g).call() for g in range(1, stack.game.functions.gameCount().call() + 1))
                  if not c[2]]
    shares = sum(fn.getSlash(c[0]).call()[2] for c in open_games)  # a moot game's reward share, paid when it ends
    return {"fees": fees, "submitter_bonds": submissions * stack.config.submitter_bond,
            "challenger_bonds": len(open_games) * stack.config.challenger_bond, "moot_reward_shares": shares}


def credits(stack: GameStack, accounts: Iterable[str]) -> int:
    fn = stack.coordinator.functions
    return sum(fn.balanceOf(a).call() for a in {*accounts, BURN_ADDRESS})


def assert_conserved(stack: GameStack, accounts: Iterable[str], why: str = "") -> None:
    """The coordinator's ether is exactly what it owes: every credit (of `accounts`, which must include every
    account that was ever paid, and the burn address) plus what it holds."""
    balance = stack.w3.eth.get_balance(stack.coordinator.address)
    parts = held(stack)
    owed = credits(stack, accounts) + sum(parts.values())
    assert balance == owed, f"{why}: coordinator holds {balance}, owes {owed} ({parts})"
