"""The daemon demos' narrator: chain events in, readable lines out (no I/O but `say`).

Who is who comes from the accounts (`cast`), what a request asks and what an answer says from the demo's `Subject`
(MNIST digits: `Digits`; the LLM demo has its own), the levels of the dispute from `levels`, and what the decisive
MIPS instruction was from the honest node's own trace (`decisive`), so every line is a fact read back from the
chain and explained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from web3 import Web3

from opml.game.settlement import slash_share
from opml.node.monitor import ChainEvent

from .fmt import eth


@dataclass(frozen=True)
class Level:
    """One level of the dispute as the story names it: `name`, what its transitions are (`unit`, plural), and
    one of them (`item`)."""

    name: str
    unit: str
    item: str


ML_LEVELS = (Level("graph", "graph nodes", "node"), Level("tile", "tiles", "tile"), Level("VM", "VM steps", "step"))
LLM_LEVELS = (Level("token", "decode steps", "decode step"), *ML_LEVELS)


class Subject(Protocol):
    """What the requests of a demo are about."""

    def asked(self, request_id: int) -> str:
        """What request `request_id` asks, e.g. "the CNN about MNIST test digit #400 (a handwritten 2)"."""
        ...

    def answered(self, request_id: int, output: bytes) -> str:
        """What `output` says for the request, e.g. "class 2 — correct"."""
        ...

    def about(self, level: str, index: int) -> str:
        """More about transition `index` of level `level` (e.g. a graph node's op), or ""."""
        ...


@dataclass(frozen=True)
class Digit:
    """One posted request: the held-out MNIST test image `index`, its true `label`."""

    index: int
    label: int


def predicted_class(output: bytes) -> int:
    """The class an MNIST output (10 int8 logits) names."""
    return int(np.argmax(np.frombuffer(output, np.int8)))


@dataclass(frozen=True)
class Digits:
    """The MNIST demo's subject: request id → the digit it asks about; the CNN's node ops by index."""

    digits: dict[int, Digit]
    node_names: list[str]

    def asked(self, request_id: int) -> str:
        digit = self.digits.get(request_id)
        what = f"MNIST test digit #{digit.index} (a handwritten {digit.label})" if digit else "an input"
        return f"the CNN about {what}"

    def answered(self, request_id: int, output: bytes) -> str:
        predicted = predicted_class(output)
        digit = self.digits.get(request_id)
        if digit is None:
            return f"class {predicted}"
        return f"class {predicted}" + (" — correct" if predicted == digit.label else
                                       f" — wrong: the digit is a {digit.label}")

    def about(self, level: str, index: int) -> str:
        if level != "graph":
            return ""
        return f" ({self.node_names[index] if 0 <= index < len(self.node_names) else '?'})"


@dataclass
class Tally:
    """What the story saw happen (the demo's summary is built from it)."""

    submitted: dict[int, list[str]] = field(default_factory=dict)  # request id → submitters, in order
    challenged: dict[int, int] = field(default_factory=dict)  # game id → request id
    finalized: dict[int, str] = field(default_factory=dict)  # request id → submitter
    callbacks: dict[int, bool] = field(default_factory=dict)  # request id → callback succeeded
    slashed: dict[int, str] = field(default_factory=dict)  # request id → slashed submitter
    winners: dict[int, str] = field(default_factory=dict)  # game id → winner
    by_step: dict[int, bool] = field(default_factory=dict)  # game id → decided by a MIPS step
    levels: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # game → (level, parent, length)
    steps: dict[int, str] = field(default_factory=dict)  # game id → the decisive instruction
    burned: int = 0


class Story:
    """Turns each confirmed event into a line; `tally` keeps the facts. `decisive(request id, the parent index at
    each level below the first, VM step lo)` is the text of the instruction the MIPS step executes."""

    def __init__(self, say: Callable[..., None], cast: dict[str, str], subject: Subject,
                 decisive: Callable[[int, tuple[int, ...], int], str], bonds: tuple[int, int, int],
                 levels: tuple[Level, ...] = ML_LEVELS) -> None:
        self.say = say
        self.cast = {Web3.to_checksum_address(a): name for a, name in cast.items()}
        self.subject = subject
        self.decisive = decisive
        self.submitter_bond, self.challenger_bond, self.burn_bps = bonds
        self.levels = levels
        self.tally = Tally()
        self._games: dict[int, dict] = {}

    def who(self, address: str) -> str:
        return self.cast.get(Web3.to_checksum_address(address), address)

    def on(self, event: ChainEvent) -> None:
        handler = getattr(self, f"_{event.name}", None)
        if handler is not None:
            handler(event.args)

    # -- coordinator ----------------------------------------------------------------------------------------
    def _RequestCreated(self, a: dict) -> None:  # noqa: N802 — named after the event
        self.say(f"request #{a['requestId']}: the consumer contract asks {self.subject.asked(a['requestId'])}; "
                 f"fee {eth(a['fee'])}, callback to {self.who(a['callback'])}")

    def _ResultSubmitted(self, a: dict) -> None:  # noqa: N802
        request, who = a["requestId"], self.who(a["submitter"])
        self.tally.submitted.setdefault(request, []).append(who)
        again = " (reopened request)" if len(self.tally.submitted[request]) > 1 else ""
        self.say(f"request #{request}{again}: {who} submits {self.subject.answered(request, bytes(a['output']))}; "
                 f"bond {eth(self.submitter_bond)}, challenge window open")

    def _Challenged(self, a: dict) -> None:  # noqa: N802
        self.tally.challenged[a["gameId"]] = a["requestId"]
        self._games[a["gameId"]] = {"request": a["requestId"], "parents": [], "lo": 0, "hi": 0}
        self.say(f"request #{a['requestId']}: {self.who(a['challenger'])} recomputes it, gets a different output "
                 f"commitment and challenges (bond {eth(self.challenger_bond)}) → dispute game #{a['gameId']}")

    def _Slashed(self, a: dict) -> None:  # noqa: N802
        who = self.who(a["submitter"])
        self.tally.slashed[a["requestId"]] = who
        share = slash_share(self.submitter_bond, 1)
        self.say(f"request #{a['requestId']}: {who} is slashed — loses the {eth(self.submitter_bond)} bond: "
                 f"{eth(self.submitter_bond - share)} burned, the rest shared by its challengers "
                 f"({eth(share)} to {self.who(a['challenger'])} when it is the only one, plus its own "
                 f"{eth(self.challenger_bond)} back); the request is open again")

    def _Burned(self, a: dict) -> None:  # noqa: N802
        self.tally.burned += int(a["amount"])

    def _Finalized(self, a: dict) -> None:  # noqa: N802
        request, who = a["requestId"], self.who(a["submitter"])
        self.tally.finalized[request] = who
        self.say(f"request #{request}: window over, unchallenged — {who}'s result is final "
                 f"(bond back, fee earned)")

    def _CallbackResult(self, a: dict) -> None:  # noqa: N802
        self.tally.callbacks[a["requestId"]] = bool(a["success"])
        state = "delivered to" if a["success"] else "FAILED to reach"
        self.say(f"request #{a['requestId']}: the output is {state} the consumer contract", indent=4)

    # -- dispute game ---------------------------------------------------------------------------------------
    def _LevelOpened(self, a: dict) -> None:  # noqa: N802
        game, level, parent, length = a["gameId"], a["level"], a["parentIndex"], a["subLength"]
        state = self._games.setdefault(game, {"request": 0, "parents": [], "lo": 0, "hi": 0})
        self.tally.levels.setdefault(game, []).append((level, parent, length))
        name = self._level(level).name
        unit = self._level(level).unit if length != 1 else self._level(level).item
        if level == 0:
            self.say(f"game #{game}: level 1 ({name}): {length} {unit}", indent=4)
            return
        state["parents"].append(parent)
        above = self._level(level - 1)
        self.say(f"game #{game}: they first disagree at {above.item} {parent}"
                 f"{self.subject.about(above.name, parent)} → level {level + 1} ({name}): {length} {unit}", indent=4)

    def _Picked(self, a: dict) -> None:  # noqa: N802
        state = self._games.get(a["gameId"])
        if state is not None:
            state["lo"], state["hi"] = a["lo"], a["hi"]
        self.say(f"game #{a['gameId']}: {self._level(a['level']).unit} narrowed to [{a['lo']}, {a['hi']}]", indent=6)

    def _Stepped(self, a: dict) -> None:  # noqa: N802
        game = a["gameId"]
        state = self._games[game]
        text = self.decisive(state["request"], tuple(state["parents"]), state["lo"])
        self.tally.steps[game] = text
        agree = bytes(a["claimedPost"]) == bytes(a["computedPost"])
        self.say(f"game #{game}: one instruction left, step {state['lo']} → {state['hi']}: {text}", indent=4)
        self.say(f"MIPS.stepFrom executes it on chain: the submitter's claimed post-state is "
                 f"{'right' if agree else 'wrong'}", indent=6)

    def _GameResolved(self, a: dict) -> None:  # noqa: N802
        game = a["gameId"]
        self.tally.winners[game] = self.who(a["winner"])
        self.tally.by_step[game] = not a["byTimeout"]
        how = "on time" if a["byTimeout"] else "by the MIPS step"
        self.say(f"game #{game}: {self.who(a['winner'])} wins {how}", indent=4)

    def _level(self, level: int) -> Level:
        return self.levels[min(level, len(self.levels) - 1)]
