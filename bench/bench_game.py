"""The bisection game on chain: transactions, gas and rounds of one dispute over a 2^20-step single-level toy
trace with N = 15 (both parties, from the challenge to the resolution), on a fresh Anvil.

The submitter lies at one step in the middle of the trace; the honest challenger wins. A second game with an
honest submitter and a lying challenger is measured the same way.
"""

from __future__ import annotations

import time

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.tx import TxSender
from opml.game.driver import GameDriver, Party, anvil_warp, chain_time
from opml.game.toy import Lie
from opml.game.toy_stack import ToyStack, ToyStackConfig, deploy_toy_stack
from opml.game.types import Role

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
            started = time.perf_counter()
            traces = {role: stack.trace(anchor, frozenset({Lie((0,), LIE_AT)}) if role is liar else frozenset())
                      for role in Role}
            for trace in traces.values():
                trace.open_next(0)[0].root_at(LENGTH)  # compute the traces before timing the game
            trace_s = time.perf_counter() - started
            figures.update({f"{k}{label}": v for k, v in _dispute(stack, w3, request_id, traces,
                                                                   submitter, challenger).items()})
            figures[f"toy_trace_2pow20_s{label}"] = round(trace_s / 2, 3)
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
    return {
        "game_txs_2pow20": 1 + len(moves),
        "game_gas_2pow20": challenge_tx.gas_used + sum(m.gas_used for m in moves),
        "game_rounds_2pow20": sum(m.action == "PickSegment" for m in moves),
        "game_wall_s_2pow20": round(wall, 2),
    }
