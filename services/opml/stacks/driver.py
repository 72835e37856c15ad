"""A small synchronous game loop for tests, benchmarks and the demos: read each game, ask the solver for every
party's move, send it, until every game is decided and settled.

The asyncio daemons replace this loop (monitor → scheduler → player → responder) but reuse the solver; the
driver only adds what a single process playing all sides needs: an optional time warp for stalled games, and an
optional `on_move(view, action, party, mined)` callback after each mined move (the kernel demo narrates from it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from opml.chain.bindings import GameBindings
from opml.chain.tx import ContractRevert, Mined, TxSender
from opml.game.solver import next_action
from opml.game.trace import TraceProvider
from opml.game.types import Action, GameView, Role, Wait

log = structlog.get_logger(__name__)


class GameStalled(Exception):
    """No party can move, the game is not over, and the driver may not advance time."""


@dataclass(frozen=True)
class Party:
    """One side of one game: who it is, how it sends, and the trace it believes (its request-level provider)."""

    role: Role
    sender: TxSender
    provider: TraceProvider
    name: str = ""


@dataclass(frozen=True)
class Move:
    """A transaction one party sent (mined, or reverted after mining)."""

    game_id: int
    party: str
    action: str
    gas_used: int
    fee_wei: int


@dataclass(frozen=True)
class Rejection:
    """A move the contracts refused (`error`; for wrapped verifier errors, `reason` is the inner error)."""

    game_id: int
    party: str
    action: str
    error: str
    gas_used: int = 0
    fee_wei: int = 0


@dataclass
class GameLog:
    """Everything the driver did, per game, and how each game ended."""

    moves: list[Move] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    outcomes: dict[int, GameView] = field(default_factory=dict)
    time_warps: int = 0

    def moves_in(self, game_id: int) -> list[Move]:
        return [m for m in self.moves if m.game_id == game_id]


MoveCallback = Callable[[GameView, Action, "Party", Mined], None]


class GameDriver:
    """Plays games to the end with the given parties; `warp(seconds)` (Anvil's time travel) unsticks games
    whose party on the clock cannot or will not move; `on_move` sees each mined move with the view it was
    chosen from."""

    def __init__(self, bindings: GameBindings, now: Callable[[], int],
                 warp: Callable[[int], None] | None = None, on_move: MoveCallback | None = None) -> None:
        self.bindings = bindings
        self.now = now
        self.warp = warp
        self.on_move = on_move

    def play(self, games: dict[int, Iterable[Party]], max_passes: int = 1000) -> GameLog:
        """Round-robin over the games until each is over and settled; returns what happened."""
        parties = {game_id: list(ps) for game_id, ps in games.items()}
        record = GameLog()
        for _ in range(max_passes):
            progressed, unfinished = False, []
            for game_id, players in parties.items():
                view = self.bindings.read_game(game_id)  # fresh: another game's move may have made it moot
                if view.phase.is_over and view.settled:
                    record.outcomes[game_id] = view
                    continue
                unfinished.append(view)
                progressed = self._pass(view, players, record) or progressed
            if not unfinished:
                return record
            if not progressed:
                self._unstick(unfinished, record)
        raise GameStalled(f"games {sorted(parties)} not decided after {max_passes} passes")

    def _pass(self, view: GameView, parties: list[Party], record: GameLog) -> bool:
        """Each party moves once if it has a move; True when some transaction was mined."""
        progressed = False
        for party in parties:
            action = next_action(view, party.role, party.provider, self.now())
            if isinstance(action, Wait):
                continue
            if self._send(view, action, party, record):
                progressed = True
                view = self.bindings.read_game(view.game_id)
        return progressed

    def _send(self, view: GameView, action: Action, party: Party, record: GameLog) -> bool:
        name = type(action).__name__
        try:
            mined = party.sender.send(self.bindings.call_for(action), label=name)
        except ContractRevert as revert:
            error = _error_name(revert, party.sender)
            log.info("move_rejected", game=action.game_id, party=party.name, action=name, error=error)
            record.rejections.append(Rejection(action.game_id, party.name, name, error, revert.gas_used,
                                               revert.fee_wei))
            return False
        log.info("move_sent", game=action.game_id, party=party.name, action=name, gas=mined.gas_used)
        record.moves.append(Move(action.game_id, party.name, name, mined.gas_used, mined.fee_wei))
        if self.on_move is not None:
            self.on_move(view, action, party, mined)
        return True

    def _unstick(self, views: Iterable[GameView], record: GameLog) -> None:
        deadlines = [v.deadline() for v in views if v.deadline() is not None]
        if self.warp is None or not deadlines:
            raise GameStalled("no party can move and the driver may not advance time")
        seconds = max(1, min(deadlines) - self.now() + 1)
        log.info("time_warp", seconds=seconds)
        self.warp(seconds)
        record.time_warps += 1


def _error_name(revert: ContractRevert, sender: TxSender) -> str:
    """`Name`, or `Outer(Inner)` for a verifier error wrapped in LinkProofInvalid/StepWitnessInvalid."""
    if revert.name in _WRAPPING_ERRORS and revert.arguments and isinstance(revert.arguments[0], bytes):
        return f"{revert.name}({sender.errors.decode(revert.arguments[0]).name})"
    return revert.name


_WRAPPING_ERRORS = ("LinkProofInvalid", "StepWitnessInvalid")


def anvil_warp(w3) -> Callable[[int], None]:
    """Advance an Anvil chain's time by `seconds` and mine a block at the new time."""

    def warp(seconds: int) -> None:
        w3.provider.make_request("evm_increaseTime", [seconds])
        w3.provider.make_request("evm_mine", [])

    return warp


def chain_time(w3) -> Callable[[], int]:
    """The latest block's timestamp: the clock the contracts judge moves by."""
    return lambda: int(w3.eth.get_block("latest")["timestamp"])

