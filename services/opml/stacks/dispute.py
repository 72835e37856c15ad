"""One dispute played end to end on a deployed stack (ML or generation): a request, the submitter's result, a
challenge and the game played by the node driver (signed transactions) until it is decided and settled; then what
decided it.

    outcome = play_dispute(stack, model_id, submitter=liar, challenger=honest, senders=senders)

The parties are request-level providers with the request's `input_bytes` and `submission()`: an ML
`RequestLevel` on an `MlStack`, a `GenerationParty` on an `LlmStack`.

`DisputeOutcome` counts the transactions and gas from the challenge to the resolution (rejected moves included),
the wall time of that stretch (both parties' trace computation included: the providers are lazy), the openings
(disputed node, tile) and, when a MIPS step decided it, the step and its instruction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from typing import Protocol

from opml.chain.bindings import GameBindings
from opml.chain.tx import TxSender
from opml.game.solver import provider_at_depth
from opml.game.trace import TraceProvider
from opml.game.types import GameView, Role
from opml.vm.isa import disassemble

from .deploy import GameConfig
from .driver import GameDriver, GameLog, Party, anvil_warp, chain_time


class Stack(Protocol):
    """What a dispute needs of a deployed stack (MlStack, LlmStack)."""

    w3: object
    config: GameConfig
    bindings: GameBindings


class RequestParty(TraceProvider, Protocol):
    """A request-level provider a dispute is played with: the request's input bytes and what it submits."""

    input_bytes: bytes

    def submission(self) -> tuple[bytes, bytes]: ...


@dataclass(frozen=True)
class Senders:
    """Who sends what: the requester, the submitter and the challenger (distinct accounts)."""

    requester: TxSender
    submitter: TxSender
    challenger: TxSender


@dataclass(frozen=True)
class DecisiveStep:
    """The VM transition a MIPS step executed on chain: from S_lo to S_hi, the instruction at the pre-state's pc."""

    lo: int
    hi: int
    pc: int
    word: int
    computed_post: bytes
    claimed_post: bytes

    @property
    def instruction(self) -> str:
        return disassemble(self.word)


@dataclass(frozen=True)
class DisputeOutcome:
    game_id: int
    winner: Role
    by_timeout: bool
    txs: int
    gas: int
    wall_s: float
    openings: tuple[int, ...]
    final: GameView
    step: DecisiveStep | None
    rejections: tuple[str, ...]


def play_dispute(stack: Stack, model_id: int, submitter: RequestParty, challenger: RequestParty,
                 senders: Senders) -> DisputeOutcome:
    """Requests `submitter.input_bytes`, submits `submitter`'s result, challenges it and plays the game to its end;
    the requester's input is the request both parties read."""
    c = stack.bindings.coordinator
    mined = senders.requester.send(c.request(model_id, submitter.input_bytes), value=stack.config.model_fee)
    request_id = c.events("RequestCreated", mined.receipt)[0]["requestId"]
    senders.submitter.send(c.submit(request_id, *submitter.submission()), value=stack.config.submitter_bond)
    started = time.perf_counter()
    challenged = senders.challenger.send(c.challenge(request_id), value=stack.config.challenger_bond)
    game_id = c.events("Challenged", challenged.receipt)[0]["gameId"]
    w3 = stack.w3
    log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
        Party(Role.SUBMITTER, senders.submitter, submitter, "submitter"),
        Party(Role.CHALLENGER, senders.challenger, challenger, "challenger")]})
    wall = time.perf_counter() - started
    return _outcome(stack, game_id, log, challenged.gas_used, wall, submitter, challenger)


def _outcome(stack: Stack, game_id: int, log: GameLog, challenge_gas: int, wall: float, submitter: RequestParty,
             challenger: RequestParty) -> DisputeOutcome:
    final = log.outcomes[game_id]
    game = stack.bindings.game.contract
    (resolved,) = game.events.GameResolved.get_logs(argument_filters={"gameId": game_id},
                                                    from_block=stack.bindings.from_block)
    moves = log.moves_in(game_id)
    rejected = [r for r in log.rejections if r.game_id == game_id]
    winner = Role.SUBMITTER if resolved["args"]["submitterWon"] else Role.CHALLENGER
    honest = submitter if winner is Role.SUBMITTER else challenger
    return DisputeOutcome(
        game_id=game_id, winner=winner, by_timeout=bool(resolved["args"]["byTimeout"]),
        txs=1 + len(moves) + sum(1 for r in rejected if r.gas_used),
        gas=challenge_gas + sum(m.gas_used for m in moves) + sum(r.gas_used for r in rejected),
        wall_s=wall, openings=final.openings, final=final,
        step=None if resolved["args"]["byTimeout"] else _decisive_step(stack, game_id, final, honest),
        rejections=tuple(r.error for r in rejected))


def _decisive_step(stack: Stack, game_id: int, final: GameView, honest: RequestParty) -> DecisiveStep:
    (stepped,) = stack.bindings.game.contract.events.Stepped.get_logs(argument_filters={"gameId": game_id},
                                                                      from_block=stack.bindings.from_block)
    pre = provider_at_depth(honest, final.openings).state_at(final.lo)
    return DecisiveStep(final.lo, final.hi, pre.pc, pre.memory.read_word(pre.pc),
                        bytes(stepped["args"]["computedPost"]), bytes(stepped["args"]["claimedPost"]))

