"""The pure game solver: from a `GameView`, the party's role, its trace providers and the time, the next move.

No I/O: providers are values, the clock is an argument. The same solver serves the test driver and the daemons.
A party keeps one invariant: it agrees with S_lo and (as challenger) disputes the submitter's S_hi, so the
first disputed checkpoint always exists and the honest party always has a move.

The final step is sent by one party only: the one it favours. Given `execute` (the step verifier as a function:
pre-state hash, witness → post-state hash; the daemons bind it to a read-only call of the on-chain verifier),
both parties compute the same post-state, so exactly one of them steps and the two never race. Without it a
party judges by its own trace, which a lying party believes.
"""

from __future__ import annotations

from collections.abc import Callable

from .bisection import boundaries, checkpoint_positions
from .trace import StepWitness, TraceProvider
from .types import (Action, ClaimTimeout, GameView, OpenLevel, Phase, PickSegment, PostCheckpoints, ReleaseGame, Role,
                    Step, Wait)


StepExecutor = Callable[[bytes, StepWitness], bytes | None]
"""(pre-state hash, witness) → the post-state hash the step verifier computes; None when it cannot tell."""


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


def next_action(view: GameView, role: Role, root: TraceProvider, now: int,
                execute: StepExecutor | None = None) -> Action:
    """The move `role` should make at time `now` in `view`, given its request-level provider `root` (and, at the
    final step, `execute` to learn whom the step favours)."""
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
        return _step(view, role, provider, execute)
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


def _step(view: GameView, role: Role, provider: TraceProvider, execute: StepExecutor | None) -> Action:
    """At the final transition only the party the step favours executes it; the other waits (and a party that
    never steps loses on time). Whom it favours: the executed post-state against the submitter's S_hi, or, when
    the step cannot be executed here, the party's own S_hi."""
    if provider.root_at(view.lo) != view.root_lo:
        return Wait(view.game_id, "no witness for a pre-state this party does not hold")
    witness = provider.step_witness(view.lo)
    post = execute(view.root_lo, witness) if execute is not None else None
    submitter_wins = (post if post is not None else provider.root_at(view.hi)) == view.root_hi
    if submitter_wins != (role is Role.SUBMITTER):
        return Wait(view.game_id, "the step would not favour this party")
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
