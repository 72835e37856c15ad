"""The bisection game on chain: transactions, gas and rounds of one dispute over a 2^20-step single-level toy
trace with N = 15 (both parties, from the challenge to the resolution), on a fresh Anvil; gas per move kind;
the wall time of the game loop (local Anvil, traces precomputed) and of computing one 2^20-step toy trace.

The submitter lies at one step in the middle of the trace; the honest challenger wins. A second game with an
honest submitter and a lying challenger is measured the same way.
"""

from __future__ import annotations

import time

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.tx import TxSender
from opml.game.toy import Lie
from opml.game.types import Role
from opml.stacks.driver import GameDriver, Party, anvil_warp, chain_time
from opml.stacks.toy import ToyStack, ToyStackConfig, deploy_toy_stack

LENGTH = 1 << 20
LIE_AT = 777_777


def run() -> dict[str, float | int]:
    with Anvil() as node:
        w3 = node.web3()
        stack = deploy_toy_stack(w3, ToyStackConfig(level_lengths=(LENGTH,), max_depths=(20,), checkpoint_count=15))
        requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], stack.bindings.errors())
                                            for i in (1, 2, 3))
        figures: dict[str, float | int] = {}
        for label, liar in (("", Role.SUBMITTER), ("_lying_challenger", Role.CHALLENGER)):
            request_id, anchor = stack.request(requester, label.encode() or b"bench")
            traces = {role: stack.trace(anchor, frozenset({Lie((0,), LIE_AT)}) if role is liar else frozenset())
                      for role in Role}
            started = time.perf_counter()
            for trace in traces.values():
                trace.open_next(0)[0].root_at(LENGTH)  # compute the traces before timing the game
            if not label:
                figures["toy_trace_2pow20_s"] = round((time.perf_counter() - started) / 2, 3)
            game = _dispute(stack, w3, request_id, traces, submitter, challenger)
            if label:  # the second game: only its headline figures
                game = {k: v for k, v in game.items() if k.split("_")[1] in ("txs", "gas", "rounds")
                        and k.count("_") == 2}
            figures.update({f"{k}{label}": v for k, v in game.items()})
        return figures


def _dispute(stack: ToyStack, w3, request_id: int, traces, submitter: TxSender,  # type: ignore[no-untyped-def]
             challenger: TxSender) -> dict[str, float | int]:
    stack.submit(submitter, request_id, traces[Role.SUBMITTER])
    started = time.perf_counter()
    game_id, challenge_tx = stack.challenge(challenger, request_id)
    log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
        Party(Role.SUBMITTER, submitter, traces[Role.SUBMITTER], "submitter"),
        Party(Role.CHALLENGER, challenger, traces[Role.CHALLENGER], "challenger"),
    ]})
    wall = time.perf_counter() - started
    moves = log.moves_in(game_id)
    if log.rejections or log.time_warps:
        raise RuntimeError(f"benchmark game did not run cleanly: {log.rejections}, {log.time_warps} warps")
    figures: dict[str, float | int] = {
        "game_txs_2pow20": 1 + len(moves),
        "game_gas_2pow20": challenge_tx.gas_used + sum(m.gas_used for m in moves),
        "game_rounds_2pow20": sum(m.action == "PickSegment" for m in moves),
        "game_wall_s_2pow20": round(wall, 2),
        "game_gas_challenge_2pow20": challenge_tx.gas_used,
    }
    for action in ("OpenLevel", "PostCheckpoints", "PickSegment", "Step"):
        gas = [m.gas_used for m in moves if m.action == action]
        figures[f"game_gas_{action}_mean_2pow20"] = round(sum(gas) / len(gas)) if gas else 0
    return figures
