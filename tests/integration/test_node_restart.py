"""Restart safety: the honest daemon is SIGKILLed at random points of a dispute (five per game) and
started again; it resumes from the chain plus its journal, still wins, never sends a move twice, and loses no
bond. The kill points are drawn from a seed printed on failure (set OPML_TEST_SEED to replay one).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from eth_account import Account

from fixtures_node import NodeNet, ask, assert_each_move_once, gas_paid, kill_and_restart_at
from opml.game.settlement import slash_share
from opml.chain.bindings import CoordinatorContract, RequestStatus, SubmissionStatus
from opml.node.devnet import DevnetParams

WINDOW = 600
KILLS = 5
# A deeper toy game than the devnet's (3 + 2 + 3 bisection rounds at N = 3), so five kills fit in one dispute.
PARAMS = DevnetParams(level_lengths=(64, 16, 64), max_depths=(6, 4, 6), challenge_window=WINDOW)
pytestmark = pytest.mark.net(kind=NodeNet, params=PARAMS)
SEED = int(os.environ.get("OPML_TEST_SEED", time.time_ns() % 1_000_000))


def test_killed_challenger_resumes_and_slashes_the_liar(net: NodeNet) -> None:
    rng = random.Random(SEED)
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    me = Account.from_key(net.keys["challenger"]).address
    before = net.w3.eth.get_balance(me)
    net.daemon("submitter", faults=["lie:0.6.2:11"])
    challenger = net.daemon("challenger")
    request_id = ask(net, b"restart me")
    # the honest challenger's transactions: challenge, 8 picks, the step, the withdrawal
    kills = kill_and_restart_at(net, challenger, "challenger", sorted(rng.sample(range(1, 9), KILLS)), rng,
                                f"seed {SEED}")
    assert len(set(kills)) == KILLS, f"seed {SEED}: kills at {kills} are not {KILLS} points"
    (over,) = challenger.wait_for("game_over", timeout=90)
    assert over["won"], f"seed {SEED}, kills at {kills}: the honest challenger lost"
    assert challenger.starts == KILLS + 1
    submission = coordinator.get_submission(coordinator.get_request(request_id).active_submission or 1)
    assert submission.status is SubmissionStatus.SLASHED
    challenger.wait_for("withdrawn")
    assert_each_move_once(net, challenger, "challenger", f"seed {SEED}")
    gained = net.w3.eth.get_balance(me) + gas_paid(net, "challenger") - before
    assert gained == slash_share(coordinator.submitter_bond(), 1), f"seed {SEED}, kills at {kills}: bond accounting off"
    challenges = coordinator.contract.events.Challenged.get_logs(from_block=net.deployment.start_block)
    assert [e["args"]["challenger"] for e in challenges] == [me], f"seed {SEED}: challenged more than once"


def test_killed_submitter_resumes_and_beats_the_lying_challenger(net: NodeNet) -> None:
    rng = random.Random(SEED + 1)
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    me = Account.from_key(net.keys["submitter"]).address
    before = net.w3.eth.get_balance(me)
    submitter = net.daemon("submitter")
    challenger = net.daemon("challenger", faults=["lie:0.2.3:5"])
    request_id = ask(net, b"restart me too")
    # the honest submitter's transactions in the game: submit, open level 0, 2 bisects, open level 1, bisect,
    # open level 2, 2 bisects (the lying challenger steps and loses); then finalize and withdraw
    kills = kill_and_restart_at(net, submitter, "submitter", sorted(rng.sample(range(1, 8), KILLS)), rng,
                                f"seed {SEED}")
    assert len(set(kills)) == KILLS, f"seed {SEED}: kills at {kills} are not {KILLS} points"
    assert submitter.starts == KILLS + 1
    (over,) = submitter.wait_for("game_over", timeout=90)
    assert over["won"], f"seed {SEED}, kills at {kills}: the honest submitter lost"
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    assert coordinator.get_request(request_id).status is RequestStatus.FINALIZED
    submitter.wait_for("withdrawn")
    net.w3.provider.make_request("evm_mine", [])
    deadline = time.monotonic() + 30
    while coordinator.balance_of(me) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert coordinator.balance_of(me) == 0
    assert_each_move_once(net, submitter, "submitter", f"seed {SEED}")
    results = coordinator.contract.events.ResultSubmitted.get_logs(from_block=net.deployment.start_block)
    assert [e["args"]["submitter"] for e in results] == [me], f"seed {SEED}: submitted more than once"
    fee = 10**16
    bond = coordinator.challenger_bond()
    won = bond - bond * coordinator.burn_bps() // 10_000
    gained = net.w3.eth.get_balance(me) + gas_paid(net, "submitter") - before
    assert gained == fee + won, f"seed {SEED}, kills at {kills}: got {gained}, expected fee + won bond"
    assert len(challenger.events("game_over")) == 1
