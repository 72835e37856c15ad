"""The Coordinator's settlement arithmetic (docs/game.md "Settlement"), the Python twin the nodes, tests and
benchmarks compute expected payouts with.

A game the submitter wins pays it the challenger's bond less `burnBps`. A slash does not: of the slashed submitter
bond, `SLASH_REWARD_BPS` is shared equally by its claimants — the challenger whose game slashed it and every
challenger whose game the slash made moot — and the rest (with the division's remainder) is burned, so a liar that
challenges itself through sybils recovers at most that share of its bond.
"""

from __future__ import annotations

BPS = 10_000
SLASH_REWARD_BPS = 2_000


def burned_share(bond: int, burn_bps: int) -> int:
    """What is burned of a loser's bond in a game the submitter won."""
    return bond * burn_bps // BPS


def slash_share(submitter_bond: int, claimants: int) -> int:
    """What each claimant of a slash is paid on top of its own challenger bond."""
    if claimants < 1:
        raise ValueError(f"a slash has at least one claimant (its winner), not {claimants}")
    return submitter_bond * SLASH_REWARD_BPS // BPS // claimants


def slash_burned(submitter_bond: int, claimants: int) -> int:
    """What a slash burns of the submitter bond: everything not shared."""
    return submitter_bond - claimants * slash_share(submitter_bond, claimants)
