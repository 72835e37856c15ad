"""The daemon demo's narrator: chain events in, readable lines out (no I/O but `say`).

Who is who comes from the accounts (`cast`), what a digit is from the requests the demo posted (`digits`), and
what the decisive MIPS instruction was from the honest node's own trace (`decisive`), so every line is a fact
read back from the chain and explained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from web3 import Web3

from opml.game.settlement import slash_share
from opml.node.monitor import ChainEvent

from .fmt import eth



@dataclass(frozen=True)
class Digit:
    """One posted request: the held-out MNIST test image `index`, its true `label`."""

    index: int
    label: int


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


def predicted_class(output: bytes) -> int:
    """The class an MNIST output (10 int8 logits) names."""
    return int(np.argmax(np.frombuffer(output, np.int8)))


class Story:
    """Turns each confirmed event into a line; `tally` keeps the facts."""

    def __init__(self, say: Callable[..., None], cast: dict[str, str], digits: dict[int, Digit],
                 node_names: list[str], decisive: Callable[[int, int, int, int], str],
                 bonds: tuple[int, int, int]) -> None:
        self.say = say
        self.cast = {Web3.to_checksum_address(a): name for a, name in cast.items()}
        self.digits = digits
        self.node_names = node_names
        self.decisive = decisive  # (request id, node, tile, vm step lo) → text of the instruction
        self.submitter_bond, self.challenger_bond, self.burn_bps = bonds
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
        digit = self.digits.get(a["requestId"])
        what = f"MNIST test digit #{digit.index} (a handwritten {digit.label})" if digit else "an input"
        self.say(f"request #{a['requestId']}: the consumer contract asks the CNN about {what}; "
                 f"fee {eth(a['fee'])}, callback to {self.who(a['callback'])}")

    def _ResultSubmitted(self, a: dict) -> None:  # noqa: N802
        request, who = a["requestId"], self.who(a["submitter"])
        self.tally.submitted.setdefault(request, []).append(who)
        label = self.digits[request].label if request in self.digits else None
        predicted = predicted_class(bytes(a["output"]))
        verdict = "" if label is None else (" — correct" if predicted == label else f" — wrong: the digit is a {label}")
        again = " (reopened request)" if len(self.tally.submitted[request]) > 1 else ""
        self.say(f"request #{request}{again}: {who} submits class {predicted}{verdict}; bond "
                 f"{eth(self.submitter_bond)}, challenge window open")

    def _Challenged(self, a: dict) -> None:  # noqa: N802
        self.tally.challenged[a["gameId"]] = a["requestId"]
        self._games[a["gameId"]] = {"request": a["requestId"], "node": None, "tile": None, "lo": 0, "hi": 0}
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
        state = self._games.setdefault(game, {"request": 0, "node": None, "tile": None, "lo": 0, "hi": 0})
        self.tally.levels.setdefault(game, []).append((level, parent, length))
        if level == 0:
            self.say(f"game #{game}: level 1 (graph): {length} transitions, one per graph node", indent=4)
        elif level == 1:
            state["node"] = parent
            self.say(f"game #{game}: they first disagree after node {parent} ({self._node(parent)}) → level 2 "
                     f"(tile): its output in {length} tiles", indent=4)
        else:
            state["tile"] = parent
            self.say(f"game #{game}: first disputed tile: {parent} → level 3 (VM): that tile's MIPS kernel run, "
                     f"{length} steps", indent=4)

    def _Picked(self, a: dict) -> None:  # noqa: N802
        state = self._games.get(a["gameId"])
        if state is not None:
            state["lo"], state["hi"] = a["lo"], a["hi"]
        unit = ("graph nodes", "tiles", "VM steps")[min(a["level"], 2)]
        self.say(f"game #{a['gameId']}: {unit} narrowed to [{a['lo']}, {a['hi']}]", indent=6)

    def _Stepped(self, a: dict) -> None:  # noqa: N802
        game = a["gameId"]
        state = self._games[game]
        text = self.decisive(state["request"], state["node"], state["tile"], state["lo"])
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

    def _node(self, index: int) -> str:
        return self.node_names[index] if 0 <= index < len(self.node_names) else "?"
