"""Restart safety on the real ML levels: the honest challenger is SIGKILLed at three random points of a dispute
with a submitter lying about one element of an MNIST MLP layer (graph → tile → VM, one MIPS step) and started
again each time; it resumes from the chain plus its journal, still wins, never sends a move twice, and takes
exactly the liar's bond less the burned share. The kill points come from a seed printed on failure (set
OPML_TEST_SEED to replay one).
"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest
from eth_account import Account

from fixtures_node import MlNet, assert_each_move_once, gas_paid, kill_and_restart_at
from opml.game.settlement import slash_share
from opml.chain.bindings import RequestStatus, SubmissionStatus
from opml.ml.accuracy import as_float_input
from opml.paths import REPO_ROOT

pytestmark = pytest.mark.net(kind=MlNet)

KILLS = 3
SEED = int(os.environ.get("OPML_TEST_SEED", time.time_ns() % 1_000_000))


def test_killed_ml_challenger_resumes_and_slashes_the_lying_submitter(net: MlNet) -> None:
    rng = random.Random(SEED)
    coordinator = net.coordinator
    me = Account.from_key(net.keys["challenger"]).address
    before = net.w3.eth.get_balance(me)
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digit = net.quantized.quantize_input(as_float_input(data["test_x"][11]))
    net.daemon("submitter", faults=["wrong-output:2:3"], model_dir=str(REPO_ROOT))
    challenger = net.daemon("challenger", model_dir=str(REPO_ROOT))
    request_id = net.request(digit.tobytes())
    # The honest challenger's transactions: challenge, one pick at the graph and one at the tile level, three at
    # the VM level (4096 → 256 → 16 → 1 at N = 15), the MIPS step, the withdrawal. Kills land among the first six.
    points = sorted(rng.sample(range(1, 7), KILLS))
    kills = kill_and_restart_at(net, challenger, "challenger", points, rng, f"seed {SEED}", timeout=90)
    assert len(set(kills)) == KILLS, f"seed {SEED}: kills at {kills} are not {KILLS} points"
    (over,) = challenger.wait_for("game_over", timeout=120)
    assert over["won"] and over["phase"] == "CHALLENGER_WON", f"seed {SEED}, kills at {kills}: {over}"
    assert challenger.starts == KILLS + 1
    steps = [e for e in challenger.events("move_sent") if e["action"] == "Step"]
    assert len(steps) == 1 and steps[0]["depth"] == 3, f"seed {SEED}: not one MIPS step: {steps}"
    (challenge,) = coordinator.contract.events.Challenged.get_logs(from_block=net.deployment.start_block)
    assert challenge["args"]["challenger"] == me, f"seed {SEED}: challenged by someone else"
    assert coordinator.get_submission(challenge["args"]["submissionId"]).status is SubmissionStatus.SLASHED
    assert coordinator.get_request(request_id).status is RequestStatus.OPEN
    challenger.wait_for("withdrawn")
    assert_each_move_once(net, challenger, "challenger", f"seed {SEED}, kills at {kills}")
    gained = net.w3.eth.get_balance(me) + gas_paid(net, "challenger") - before
    assert gained == slash_share(coordinator.submitter_bond(), 1), f"seed {SEED}, kills at {kills}: bond accounting off"
    assert coordinator.balance_of(me) == 0
