"""`opml dispute-demo --fault CLASS [--liar submitter|challenger] [--seed N]`: one ML dispute over the MNIST CNN on
a fresh Anvil — the ML stack deployed, the model registered, a request with a real held-out digit, an honest party
against one whose lie is of the given class (opml.levels.scenarios), played to the end — and a short summary: who
won, transactions, gas and wall time from the challenge on, the disputed node, tile and VM step and the decisive
instruction. Exit status 0 iff the honest side won, 1 if the liar won, 2 if the demo could not run (one line on
stderr: no Anvil, a stalled game, a missing model file, ...). Anvil is always stopped.

`prepare_mnist` and `run_dispute` serve the benchmark too.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil, AnvilError
from opml.chain.build import BuildError, ensure_built
from opml.chain.contracts import DeploymentError
from opml.chain.tx import TxError, TxSender
from opml.game.types import Role
from opml.levels.cli import logs_to_stderr
from opml.levels.commitments import ModelCommitment, commit_model
from opml.levels.faults import Fault
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.levels.scenarios import draw_fault
from opml.ml.accuracy import as_float_input
from opml.ml.errors import MLError
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT
from opml.stacks.dispute import DisputeOutcome, Senders, play_dispute
from opml.stacks.driver import GameStalled
from opml.stacks.ml import deploy_ml_stack

from .fmt import short_hash

MODELS = REPO_ROOT / "models"
# What can stop a demo short of a decided game: no Anvil, no contracts, a reverted or stalled move, missing models.
DEMO_ERRORS = (AnvilError, BuildError, DeploymentError, TxError, GameStalled, MLError, OSError)
LIARS = {"submitter": Role.SUBMITTER, "challenger": Role.CHALLENGER}
LEVEL_NAMES = ("request", "graph", "tile", "VM")  # by the game's depth (levels opened so far)


@dataclass(frozen=True)
class MnistRequest:
    """The committed MNIST CNN and one quantized held-out test digit (index `index`, label `label`)."""

    commitment: ModelCommitment
    digit: np.ndarray
    index: int
    label: int


def prepare_mnist(rng: random.Random, models: Path = MODELS) -> MnistRequest:
    """Commits `models/mnist_cnn.opml` and draws a held-out digit from `models/mnist_data.npz`."""
    quantized = QuantizedModel.load(models / "mnist_cnn.opml")
    with np.load(models / "mnist_data.npz") as data:
        index = rng.randrange(len(data["test_x"]))
        digit = quantized.quantize_input(as_float_input(data["test_x"][index]))
        label = int(data["test_y"][index])
    return MnistRequest(commit_model(quantized.model), digit, index, label)


@dataclass(frozen=True)
class DemoRun:
    request: MnistRequest
    fault: Fault
    liar: Role
    outcome: DisputeOutcome

    @property
    def honest_won(self) -> bool:
        return self.outcome.winner is self.liar.opponent


def run_dispute(request: MnistRequest, fault: Fault, liar: Role) -> DisputeOutcome:
    """The dispute on a fresh Anvil (stopped afterwards): the liar's providers against fresh honest ones."""
    honest = RequestLevel(request.commitment, request.digit)
    lying = LyingRequestLevel(request.commitment, request.digit, {fault})
    submitter, challenger = (lying, honest) if liar is Role.SUBMITTER else (honest, lying)
    with Anvil() as node:  # started first: without a chain, nothing else is worth doing
        ensure_built()
        w3 = node.web3()
        stack = deploy_ml_stack(w3)
        model_id = stack.register(request.commitment)
        errors = stack.bindings.errors()
        senders = Senders(*(TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3)))
        return play_dispute(stack, model_id, submitter, challenger, senders)


def demo(kind: str, liar: Role, seed: int) -> DemoRun:
    """Draws the digit and the fault from `seed`, then plays the dispute."""
    rng = random.Random(seed)
    request = prepare_mnist(rng)
    fault = draw_fault(kind, RequestLevel(request.commitment, request.digit), rng)
    return DemoRun(request, fault, liar, run_dispute(request, fault, liar))


def summary(run: DemoRun) -> list[str]:
    """The readable summary lines."""
    o, c = run.outcome, run.request.commitment
    honest = run.liar.opponent
    lines = [
        f"winner: the {o.winner.name.lower()} ({'honest' if o.winner is honest else 'LIAR'}), "
        f"{'on time (the liar could not move)' if o.by_timeout else 'by one MIPS step executed on chain'}",
        f"dispute (challenge → resolution): {o.txs} transactions, {o.gas:,} gas, {o.wall_s:.2f} s wall",
    ]
    if o.rejections:
        lines.append(f"rejected moves: {', '.join(o.rejections)}")
    lines.extend(_position(run, c))
    return lines


def _position(run: DemoRun, c: ModelCommitment) -> list[str]:
    o, lines = run.outcome, []
    if len(o.openings) >= 2:
        node = o.openings[1]
        lines.append(f"disputed node: {node} of {len(c.nodes)} ({c.model.nodes[node].op.value})")
    if len(o.openings) >= 3:
        node, tile = o.openings[1:]
        first, end = c.nodes[node].plan.tile(tile)
        lines.append(f"disputed tile: {tile} of {c.nodes[node].plan.tile_count} (output elements {first}..{end - 1})")
    if o.step is not None:
        s = o.step
        lines.append(f"disputed VM step: {s.lo} → {s.hi} of 2^{c.nodes[o.openings[1]].vm_depth}")
        lines.append(f"decisive instruction: pc {s.pc:#010x}: `{s.instruction}` ({s.word:#010x}); computed post-state "
                     f"{short_hash(s.computed_post)}, claimed {short_hash(s.claimed_post)}")
    else:
        lines.append(f"decided on time at the {LEVEL_NAMES[o.final.depth]} level, no step played: the liar's forged "
                     f"roots have nothing behind them")
    return lines


def run_dispute_demo(kind: str, liar_name: str, seed: int | None) -> int:
    """`opml dispute-demo`: 0 when the honest side won, 1 when the liar did, 2 when the demo could not run."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
    liar = LIARS[liar_name]
    print(f"opml dispute-demo: fault class {kind}, lying {liar_name}, seed {seed}", flush=True)
    started = time.perf_counter()
    try:
        with logs_to_stderr():
            run = demo(kind, liar, seed)
    except DEMO_ERRORS as exc:
        print(f"opml dispute-demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"digit #{run.request.index} (label {run.request.label}); the liar's fault: {run.fault}")
    for line in summary(run):
        print(f"  {line}")
    print(f"total wall time {time.perf_counter() - started:.1f} s (model commitment, Anvil, deployment included); "
          f"Anvil stopped")
    return 0 if run.honest_won else 1
