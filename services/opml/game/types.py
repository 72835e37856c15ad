"""Values the solver reads and returns: the game as seen on chain (`GameView`) and the moves (`Action`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Role(Enum):
    SUBMITTER = 0
    CHALLENGER = 1

    @property
    def opponent(self) -> Role:
        return Role.CHALLENGER if self is Role.SUBMITTER else Role.SUBMITTER


class Phase(Enum):
    """`DisputeGame` phases (docs/game.md, "Game state")."""

    NONE = 0
    OPEN = 1
    BISECT = 2
    PICK = 3
    STEP = 4
    SUBMITTER_WON = 5
    CHALLENGER_WON = 6
    CANCELLED = 7

    @property
    def is_over(self) -> bool:
        return self in (Phase.SUBMITTER_WON, Phase.CHALLENGER_WON, Phase.CANCELLED, Phase.NONE)

    @property
    def on_clock(self) -> Role | None:
        """The party that must move in this phase (None once the game is over)."""
        if self in (Phase.OPEN, Phase.BISECT):
            return Role.SUBMITTER
        if self in (Phase.PICK, Phase.STEP):
            return Role.CHALLENGER
        return None

    @property
    def winner(self) -> Role | None:
        return {Phase.SUBMITTER_WON: Role.SUBMITTER, Phase.CHALLENGER_WON: Role.CHALLENGER}.get(self)


@dataclass(frozen=True)
class GameView:
    """One game as read from chain at some block.

    The disputed interval of the current level is [lo, hi]: both parties agree on S_lo (`root_lo`), the submitter
    claims S_hi (`root_hi`). `depth` levels have been opened; `openings[d]` is the parent transition that level d
    expands (so the provider of the current level is the request-level provider descended through `openings`).
    `checkpoints` are the roots the submitter posted for the current interval (phase Pick). Clocks are seconds
    left as of `last_move_at`; the party on the clock spends its time from then on.
    """

    game_id: int
    phase: Phase
    depth: int
    num_levels: int
    lo: int
    hi: int
    root_lo: bytes
    root_hi: bytes
    checkpoints: tuple[bytes, ...]
    checkpoint_count: int
    submitter_time_left: int
    challenger_time_left: int
    last_move_at: int
    openings: tuple[int, ...]
    submitter: str = ""
    challenger: str = ""
    request_id: int = 0
    submission_id: int = 0
    moot: bool = False  # its submission was slashed by another game
    settled: bool = False  # the coordinator has paid out this game's bonds

    @property
    def on_clock(self) -> Role | None:
        return self.phase.on_clock

    def time_left(self, role: Role, now: int) -> int:
        """Seconds `role` has left at time `now` (negative once its clock has run out)."""
        left = self.submitter_time_left if role is Role.SUBMITTER else self.challenger_time_left
        return left - max(0, now - self.last_move_at) if role is self.on_clock else left

    def deadline(self) -> int | None:
        """The last timestamp at which the party on the clock may still move."""
        role = self.on_clock
        if role is None:
            return None
        left = self.submitter_time_left if role is Role.SUBMITTER else self.challenger_time_left
        return self.last_move_at + left


@dataclass(frozen=True)
class Action:
    """Base of every move; `game_id` names the game it applies to."""

    game_id: int


@dataclass(frozen=True)
class PostCheckpoints(Action):
    """Submitter (`bisect`): the roots at the interval's checkpoint positions, in increasing position order."""

    roots: tuple[bytes, ...]


@dataclass(frozen=True)
class PickSegment(Action):
    """Challenger (`pick`): the segment s — agrees with the root at p_s, disputes the root at p_{s+1}."""

    segment: int


@dataclass(frozen=True)
class OpenLevel(Action):
    """Submitter (`openLevel`): expand the disputed transition into the next level, with its first checkpoints."""

    sub_end: bytes
    sub_length: int
    proof: bytes
    checkpoints: tuple[bytes, ...]


@dataclass(frozen=True)
class Step(Action):
    """Anyone (`step`): execute the disputed last-level transition on chain."""

    state_data: bytes
    proof_data: bytes


@dataclass(frozen=True)
class ClaimTimeout(Action):
    """Anyone (`claimTimeout`): the party on the clock has run out of time."""


@dataclass(frozen=True)
class ReleaseGame(Action):
    """Anyone (`Coordinator.releaseGame`): end a game whose submission was slashed; the challenger's bond returns."""


@dataclass(frozen=True)
class Wait(Action):
    """Nothing to do now; `reason` says why (opponent's turn, game over, out of time, …)."""

    reason: str = field(default="")
