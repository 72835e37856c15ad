"""The explorer's state, built from chain events alone: `Index.apply(event, timestamp)` in chain order.

Requests (status, fee, input, submissions, countdowns), games (parties, bonds, the disputed interval of every
bisection round, level by level, the decisive step) and the money (per address: earned, lost, burned, fees paid).
The game's clocks and phase are contract state, not events: the follower reads them and hands them over with
`set_game_state`. No I/O here; every view is JSON-ready.

Money, as the Coordinator moves it: a finalized result earns its submitter the request's fee; a game's loser loses
its bond, of which the `Burned` amount emitted in the same transaction is burned and the rest is earned by the
winner; a moot or released game returns the challenger's bond (neither earned nor lost).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from opml.chain.bindings import StackParams
from opml.node.monitor import ChainEvent

REQUEST_STATUS = ("none", "open", "submitted", "finalized", "cancelled")
PHASES = ("none", "open", "bisect", "pick", "step", "submitter won", "challenger won", "cancelled")


@dataclass
class Request:
    id: int
    model: int
    requester: str
    fee: int
    input: bytes
    input_commitment: str
    callback: str
    created_block: int
    created_at: int
    status: str = "open"
    submissions: list[int] = field(default_factory=list)
    games: list[int] = field(default_factory=list)
    callback_ok: bool | None = None


@dataclass
class Submission:
    id: int
    request: int
    submitter: str
    output: bytes
    output_commitment: str
    window_end: int
    block: int
    status: str = "pending"  # pending | slashed | finalized


@dataclass
class Level:
    """One opened level: `parent` is the transition of the level above it expands, `rounds` the disputed
    intervals [lo, hi] in order (the first is the whole level), with the checkpoint count of the bisection that
    split each one (0 while not yet bisected) and the segment the challenger picked."""

    level: int
    parent: int
    length: int
    rounds: list[dict[str, int]] = field(default_factory=list)


@dataclass
class Game:
    id: int
    request: int
    submission: int
    submitter: str
    challenger: str
    created_block: int
    created_at: int
    levels: list[Level] = field(default_factory=list)
    moves: int = 0
    step: dict[str, Any] | None = None
    winner: str | None = None
    submitter_won: bool | None = None
    by_timeout: bool | None = None
    settled: bool = False
    moot: bool = False
    released: bool = False
    burned: int = 0  # of the loser's bond, at settlement
    state: dict[str, Any] = field(default_factory=dict)  # phase, clocks, last move: read from the contract


LEDGER_ENTRIES = ("earned", "lost", "burned", "fees_paid", "withdrawn")
"""What the explorer sums per account, in wei: won bonds and fees, lost bonds, the burned part of lost bonds, fees
paid net of refunds, withdrawals."""


class Index:
    """Everything the explorer knows; `version` grows with every change (the live-update signal)."""

    def __init__(self, params: StackParams | None = None) -> None:
        """`params`: None until the deployment has been read (an index without events never needs them)."""
        self.params = params
        self.requests: dict[int, Request] = {}
        self.submissions: dict[int, Submission] = {}
        self.games: dict[int, Game] = {}
        self.ledger: Counter[tuple[str, str]] = Counter()  # (address, one of LEDGER_ENTRIES) -> wei
        self.burned_total = 0
        self.version = 0
        self.head = -1
        self.head_time = 0
        self._pending_burn: tuple[int, int] | None = None  # (block, amount) of the last Burned event

    # -- events -------------------------------------------------------------------------------------------------
    def apply(self, event: ChainEvent, timestamp: int) -> None:
        """Take one confirmed event (in chain order); `timestamp` is its block's."""
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(event, event.args, timestamp)
            self.version += 1

    def set_head(self, head: int, timestamp: int) -> None:
        if (head, timestamp) != (self.head, self.head_time):
            self.head, self.head_time = head, timestamp
            self.version += 1

    def set_game_state(self, game_id: int, state: dict[str, Any]) -> None:
        """The contract's view of a game: phase (index into PHASES), clocks, last move time, the mover's deadline."""
        game = self.games.get(game_id)
        if game is not None and game.state != state:
            game.state = state
            self.version += 1

    def set_step_instruction(self, game_id: int, pc: int, word: int, text: str) -> None:
        """The decisive instruction, read from the step transaction's witness."""
        game = self.games.get(game_id)
        if game is not None and game.step is not None:
            game.step.update(pc=pc, word=word, instruction=text)
            self.version += 1

    def credit(self, address: str, entry: str, amount: int) -> None:
        """Add `amount` wei (negative for a refund) to an account's `entry` (one of LEDGER_ENTRIES)."""
        self.ledger[address, entry] += amount

    def account(self, address: str) -> dict[str, int]:
        """Every ledger entry of one address (0 where nothing was booked)."""
        return {entry: self.ledger[address, entry] for entry in LEDGER_ENTRIES}

    def addresses(self) -> list[str]:
        """Every address with a ledger entry, sorted."""
        return sorted({address for address, _ in self.ledger})

    def _on_RequestCreated(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802 — named after the event
        self.requests[a["requestId"]] = Request(
            id=a["requestId"], model=a["modelId"], requester=a["requester"], fee=a["fee"], input=bytes(a["input"]),
            input_commitment=_hex(a["inputCommitment"]), callback=a["callback"], created_block=e.block,
            created_at=t)
        self.credit(a["requester"], "fees_paid", a["fee"])

    def _on_ResultSubmitted(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        self.submissions[a["submissionId"]] = Submission(
            id=a["submissionId"], request=a["requestId"], submitter=a["submitter"], output=bytes(a["output"]),
            output_commitment=_hex(a["outputCommitment"]), window_end=a["windowEnd"], block=e.block)
        request = self.requests.get(a["requestId"])
        if request is not None:
            request.submissions.append(a["submissionId"])
            request.status = "submitted"

    def _on_Challenged(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        request = self.requests.get(a["requestId"])
        if request is not None:
            request.games.append(a["gameId"])

    def _on_Slashed(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        self._result_decided(a, "slashed", "open")

    def _on_Burned(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        self.burned_total += a["amount"]
        self._pending_burn = (e.block, a["amount"])

    def _on_GameSettled(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        burned = self._take_burn(e.block)
        if game is None:
            return
        game.settled, game.moot = True, bool(a["moot"])
        if game.moot:
            return
        if a["submitterWon"]:
            winner, loser, bond = game.submitter, game.challenger, self.params.challenger_bond
        else:
            winner, loser, bond = game.challenger, game.submitter, self.params.submitter_bond
        game.burned = burned
        self.credit(loser, "lost", bond)
        self.credit(loser, "burned", burned)
        self.credit(winner, "earned", bond - burned)

    def _take_burn(self, block: int) -> int:
        pending, self._pending_burn = self._pending_burn, None
        return pending[1] if pending is not None and pending[0] == block else 0

    def _on_GameReleased(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None:
            game.released = game.settled = game.moot = True

    def _on_Finalized(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        request = self._result_decided(a, "finalized", "finalized")
        if request is not None:
            self.credit(a["submitter"], "earned", request.fee)

    def _result_decided(self, a: dict, submission_status: str, request_status: str) -> Request | None:
        """The event's submission and request (either may be unknown) take their new statuses; the request."""
        submission = self.submissions.get(a["submissionId"])
        if submission is not None:
            submission.status = submission_status
        request = self.requests.get(a["requestId"])
        if request is not None:
            request.status = request_status
        return request

    def _on_RequestCancelled(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        request = self.requests.get(a["requestId"])
        if request is not None:
            request.status = "cancelled"
        self.credit(a["requester"], "fees_paid", -a["refund"])

    def _on_CallbackResult(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        request = self.requests.get(a["requestId"])
        if request is not None:
            request.callback_ok = bool(a["success"])

    def _on_Withdrawn(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        self.credit(a["account"], "withdrawn", a["amount"])

    def _on_GameCreated(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        self.games[a["gameId"]] = Game(id=a["gameId"], request=a["requestId"], submission=a["submissionId"],
                                       submitter=a["submitter"], challenger=a["challenger"], created_block=e.block,
                                       created_at=t)

    def _on_LevelOpened(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None:
            length = a["subLength"]
            game.levels.append(Level(a["level"], a["parentIndex"], length,
                                     [{"lo": 0, "hi": length, "checkpoints": 0, "segment": -1}]))
            game.moves += 1

    def _on_Bisected(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None and game.levels:
            game.levels[-1].rounds[-1]["checkpoints"] = len(a["checkpoints"])
            game.moves += 1

    def _on_Picked(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None and game.levels:
            game.levels[-1].rounds.append({"lo": a["lo"], "hi": a["hi"], "checkpoints": 0, "segment": a["segment"]})
            game.moves += 1

    def _on_Stepped(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is None:
            return
        last = game.levels[-1].rounds[-1] if game.levels else {"lo": 0, "hi": 0}
        right = bytes(a["claimedPost"]) == bytes(a["computedPost"])
        game.step = {"block": e.block, "lo": last["lo"], "hi": last["hi"], "pre": _hex(a["preRoot"]),
                     "claimed_post": _hex(a["claimedPost"]), "computed_post": _hex(a["computedPost"]),
                     "claim_right": right, "pc": None, "word": None, "instruction": None}
        game.moves += 1

    def _on_GameResolved(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None:
            game.winner, game.submitter_won, game.by_timeout = a["winner"], bool(a["submitterWon"]), bool(a["byTimeout"])

    def _on_GameCancelled(self, e: ChainEvent, a: dict, t: int) -> None:  # noqa: N802
        game = self.games.get(a["gameId"])
        if game is not None:
            game.released = True

    # -- derived --------------------------------------------------------------------------------------------------
    def request_status(self, request: Request) -> str:
        """open | submitted | challenged (a game of its active submission is running) | finalized | cancelled."""
        if request.status == "submitted" and any(self.game_running(self.games[g]) for g in request.games
                                                 if g in self.games):
            return "challenged"
        return request.status

    def request_countdown(self, request: Request) -> dict[str, Any] | None:
        """The deadline that matters now: the cancel deadline of an open request, the challenge window of a
        submitted one; None once it is over."""
        if request.status == "open":
            return {"what": "answer by", "until": request.created_at + self.params.request_timeout}
        if request.status == "submitted" and request.submissions:
            submission = self.submissions[request.submissions[-1]]
            return {"what": "challenge window", "until": submission.window_end}
        return None

    @staticmethod
    def game_running(game: Game) -> bool:
        return game.winner is None and not game.released

    def active_submitter(self, request: Request) -> str | None:
        if request.submissions and request.status in ("submitted", "finalized"):
            return self.submissions[request.submissions[-1]].submitter
        return None


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()
