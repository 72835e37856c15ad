"""One dispute over a real MIPS kernel run, on a fresh Anvil: a 16x16x16 int8 matmul (`matmul_i8`) requested,
submitted by a liar whose VM trace goes wrong at a random step (a corrupted register), challenged by an honest
node, bisected over a 2^16-step VM trace (N = 15) and decided by one on-chain MIPS step.

Figures: wall time from the challenge to the resolution (the game loop on local Anvil, both parties' trace
roots computed on demand from the recorded run), its transactions and gas; also the run's length, the time to
record it, and the gas of the deciding step transaction.
"""

from __future__ import annotations

import random
import time

import numpy as np

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.tx import TxSender
from opml.demos.kernel import Job
from opml.game.types import Phase, Role
from opml.levels.kernel_level import VmRequestProvider
from opml.levels.vm_level import LyingVmLevel, VmLevel, VmLie
from opml.vm import layout
from opml.stacks.driver import GameDriver, Party, anvil_warp, chain_time
from opml.stacks.kernel import VmStackConfig, deploy_vm_stack

SHAPE = (16, 16, 16)
CONFIG = VmStackConfig(trace_depth=16, checkpoint_count=15)


def run() -> dict[str, float | int]:
    rng = np.random.default_rng(20261122)
    m, k, n = SHAPE
    job = Job(rng.integers(-128, 128, size=(m, k), dtype=np.int8), rng.integers(-128, 128, size=(k, n), dtype=np.int8))
    started = time.perf_counter()
    recorded = job.run_vm()
    record_s = time.perf_counter() - started
    lie_at = random.randrange(1, recorded.final_step + 1)
    with Anvil() as node:
        w3 = node.web3()
        stack = deploy_vm_stack(w3, CONFIG)
        errors = stack.bindings.errors()
        requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))

        def party(fault: VmLie | None = None) -> VmRequestProvider:
            vm = VmLevel(recorded, CONFIG.trace_length)
            return VmRequestProvider(stack.model_roots, vm if fault is None else LyingVmLevel(vm, fault),
                                     job.output_size)

        honest, liar = party(), party(VmLie(lie_at, layout.SCRATCH.base, b"\xa5"))
        c = stack.bindings.coordinator
        mined = requester.send(c.request(stack.model_id, job.request_input), value=CONFIG.model_fee)
        request_id = c.events("RequestCreated", mined.receipt)[0]["requestId"]
        submitter.send(c.submit(request_id, liar.claim_preimage(1), liar.trace_commitment()),
                       value=CONFIG.submitter_bond)
        started = time.perf_counter()
        challenged = challenger.send(c.challenge(request_id), value=CONFIG.challenger_bond)
        game_id = c.events("Challenged", challenged.receipt)[0]["gameId"]
        log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
            Party(Role.SUBMITTER, submitter, liar, "liar"), Party(Role.CHALLENGER, challenger, honest, "honest")]})
        wall = time.perf_counter() - started
    moves = log.moves_in(game_id)
    outcome = log.outcomes[game_id]
    if outcome.phase is not Phase.CHALLENGER_WON or log.rejections or (outcome.lo, outcome.hi) != (lie_at - 1, lie_at):
        raise RuntimeError(f"the benchmark dispute went wrong: {outcome}, rejections {log.rejections}")
    return {
        "vm_dispute_wall_s": round(wall, 3),
        "vm_dispute_txs": 1 + len(moves),
        "vm_dispute_gas": challenged.gas_used + sum(m.gas_used for m in moves),
        "vm_dispute_step_gas": moves[-1].gas_used,
        "vm_dispute_kernel_steps": recorded.final_step,
        "vm_dispute_record_s": round(record_s, 3),
    }
