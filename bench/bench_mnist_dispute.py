"""MNIST CNN disputes with a fault at a random VM step of the middle node (opml.levels.scenarios "vm"): a lying
submitter against an honest challenger, both played by the benchmark through the node driver (signed
transactions) on a fresh Anvil each, from `challenge` to resolution.

Figures (over `DISPUTES` disputes with faults drawn from one seed, `mnist_dispute_seed`; OPML_BENCH_SEED fixes it):
the mean wall time from the challenge to the resolution, both parties' trace computation included (their providers
are fresh and lazy) — `mnist_dispute_wall_s`, target ≤ 10 s; the largest transaction count and gas —
`mnist_dispute_txs` (target ≤ 30), `mnist_dispute_gas`.
"""

from __future__ import annotations

import os
import random

from opml.demos.dispute import prepare_mnist, run_dispute
from opml.game.types import Role
from opml.levels.request_level import RequestLevel
from opml.levels.scenarios import draw_fault

DISPUTES = 3
WALL_TARGET_S = 10.0
TXS_TARGET = 30


def run() -> dict[str, float | int]:
    seed = int(os.environ.get("OPML_BENCH_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    request = prepare_mnist(rng)
    planner = RequestLevel(request.commitment, request.digit)  # draws the steps; the players get fresh providers
    walls, txs, gas = [], [], []
    for _ in range(DISPUTES):
        fault = draw_fault("vm", planner, rng)
        outcome = run_dispute(request, fault, Role.SUBMITTER)
        if outcome.winner is not Role.CHALLENGER or outcome.step is None:
            raise RuntimeError(f"seed {seed}: the dispute over {fault} went wrong: {outcome}")
        walls.append(outcome.wall_s)
        txs.append(outcome.txs)
        gas.append(outcome.gas)
    wall = sum(walls) / len(walls)
    return {
        "mnist_dispute_seed": seed,
        "mnist_dispute_wall_s": round(wall, 3),
        "mnist_dispute_wall_max_s": round(max(walls), 3),
        "mnist_dispute_txs": max(txs),
        "mnist_dispute_gas": max(gas),
        "mnist_dispute_within_targets": int(max(walls) <= WALL_TARGET_S and max(txs) <= TXS_TARGET),
    }
