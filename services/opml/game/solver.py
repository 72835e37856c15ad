"""The pure game solver: from a `GameView`, the party's role, its trace providers and the time, the next move.

No I/O: providers are values, the clock is an argument. The same solver serves the test driver and the daemons.
A party keeps one invariant: it agrees with S_lo and (as challenger) disputes the submitter's S_hi, so the
first disputed checkpoint always exists and the honest party always has a move.
"""

from __future__ import annotations

from .bisection import boundaries, checkpoint_positions
from .trace import TraceProvider
from .types import (
    Action,
    ClaimTimeout,
    GameView,
    OpenLevel,
    Phase,
    PickSegment,
    PostCheckpoints,
    ReleaseGame,
    Role,
    Step,
    Wait,
)


class SolverError(Exception):
    """The game and the party's providers do not fit together (level count, trace lengths, …)."""


def provider_at_depth(root: TraceProvider, openings: tuple[int, ...]) -> TraceProvider:
    """The current level's provider: the request-level provider descended through each opened transition."""
    provider = root
    for depth, k in enumerate(openings):
        if provider.is_last_level:
            raise SolverError(f"the game opened {len(openings)} levels but the provider has only {depth}")
        provider, _ = provider.open_next(k)
    return provider


def next_action(view: GameView, role: Role, root: TraceProvider, now: int) -> Action:
    """The move `role` should make at time `now` in `view`, given its request-level provider `root`."""
    if view.moot and not view.settled:  # the challenger's bond comes back; nothing left to play for
        return ReleaseGame(view.game_id) if role is Role.CHALLENGER else Wait(view.game_id, "game is moot")
    if view.phase.is_over:
        return Wait(view.game_id, "game over")
    on_clock = view.on_clock
    if view.time_left(on_clock, now) < 0:
        if on_clock is role:
            return Wait(view.game_id, "out of time")
        return ClaimTimeout(view.game_id)
    provider = provider_at_depth(root, view.openings)
    _check_fits(view, provider)
    if view.phase is Phase.STEP:
        return _step(view, role, provider)
    if on_clock is not role:
        return Wait(view.game_id, "opponent's turn")
    if view.phase is Phase.OPEN:
        return _open(view, provider)
    if view.phase is Phase.BISECT:
        return PostCheckpoints(view.game_id, _roots(provider, view.lo, view.hi, view.checkpoint_count))
    return _pick(view, provider)


def _open(view: GameView, provider: TraceProvider) -> Action:
    sub, proof = provider.open_next(view.lo)
    checkpoints = _roots(sub, 0, sub.length, view.checkpoint_count) if sub.length >= 2 else ()
    return OpenLevel(view.game_id, sub.root_at(sub.length), sub.length, proof, checkpoints)


def _pick(view: GameView, provider: TraceProvider) -> Action:
    points = boundaries(view.lo, view.hi, view.checkpoint_count)
    claimed = (*view.checkpoints, view.root_hi)
    if len(claimed) != len(points) - 1:
        raise SolverError(f"game {view.game_id}: {len(view.checkpoints)} checkpoints for {len(points) - 2} positions")
    for segment, (position, root) in enumerate(zip(points[1:], claimed)):
        if provider.root_at(position) != root:
            return PickSegment(view.game_id, segment)
    return Wait(view.game_id, "agrees with every claimed root")


def _step(view: GameView, role: Role, provider: TraceProvider) -> Action:
    """At the final transition the party that expects the step to favour it executes it; the other waits."""
    if provider.root_at(view.lo) != view.root_lo:
        return Wait(view.game_id, "no witness for a pre-state this party does not hold")
    expects_submitter_win = provider.root_at(view.hi) == view.root_hi
    if expects_submitter_win != (role is Role.SUBMITTER):
        return Wait(view.game_id, "the step would not favour this party")
    witness = provider.step_witness(view.lo)
    return Step(view.game_id, witness.state_data, witness.proof_data)


def _roots(provider: TraceProvider, lo: int, hi: int, n: int) -> tuple[bytes, ...]:
    return tuple(provider.root_at(p) for p in checkpoint_positions(lo, hi, n))


def _check_fits(view: GameView, provider: TraceProvider) -> None:
    if view.hi > provider.length:
        raise SolverError(
            f"game {view.game_id} disputes [{view.lo}, {view.hi}] at depth {view.depth} but the provider's trace "
            f"there has length {provider.length}"
        )
    if view.phase is Phase.STEP and not provider.is_last_level:
        raise SolverError(f"game {view.game_id} is at its step but the provider has levels below depth {view.depth}")
