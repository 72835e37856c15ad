"""Restart safety: the honest daemon is SIGKILLed at random points of a dispute (five per game) and
started again; it resumes from the chain plus its journal, still wins, never sends a move twice, and loses no
bond. The kill points are drawn from a seed printed on failure (set OPML_TEST_SEED to replay one).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import Anvil
from opml.chain.bindings import CoordinatorContract, RequestStatus, SubmissionStatus
from opml.chain.build import load_artifact
from opml.node.devnet import DevnetParams
from opml.node.testing import DaemonProcess, NodeNet

WINDOW = 600
KILLS = 5
# A deeper toy game than the devnet's (3 + 2 + 3 bisection rounds at N = 3), so five kills fit in one dispute.
PARAMS = DevnetParams(level_lengths=(64, 16, 64), max_depths=(6, 4, 6), challenge_window=WINDOW)
SEED = int(os.environ.get("OPML_TEST_SEED", time.time_ns() % 1_000_000))


@pytest.fixture
def net(anvil: Anvil, w3: Web3, contracts_built: None, tmp_path: Path) -> Iterator[NodeNet]:
    network = NodeNet(w3, anvil.url, tmp_path, PARAMS)
    try:
        yield network
    finally:
        network.stop_all()


def ask(net: NodeNet, data: bytes) -> int:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    requester = Account.from_key(net.keys["requester"]).address
    fee = net.w3.eth.contract(address=net.deployment.registry, abi=load_artifact("ModelRegistry").abi) \
        .functions.modelRoots(1).call()[3]
    call = coordinator.request(1, data)
    receipt = net.w3.eth.wait_for_transaction_receipt(call.transact({"from": requester, "value": fee}))
    return coordinator.events("RequestCreated", receipt)[0]["requestId"]


def progress(net: NodeNet, who: str) -> int:
    """Transactions `who` has had mined so far (its nonce): exact, whatever the killed daemon managed to log."""
    return net.w3.eth.get_transaction_count(Account.from_key(net.keys[who]).address)


def kill_and_restart_at(net: NodeNet, daemon: DaemonProcess, who: str, points: list[int], rng: random.Random,
                        timeout: float = 60) -> list[int]:
    """SIGKILL `daemon` once `who` has had each of `points` transactions mined (plus a random delay, so some
    kills land mid-send; and never twice at the same progress) and start it again at once; returns the progress
    seen at each kill."""
    seen = []
    base = progress(net, who)  # the account may have sent transactions in earlier tests on this chain
    for point in points:
        target = max(point, seen[-1] + 1) if seen else point  # at least one new transaction between kills
        deadline = time.monotonic() + timeout
        while progress(net, who) - base < target:
            assert daemon.alive, f"seed {SEED}: daemon died:\n{daemon.tail()}"
            assert time.monotonic() < deadline, f"seed {SEED}: progress stuck below {target}:\n{daemon.tail()}"
            time.sleep(0.01)
        if rng.random() < 0.5:
            wait_for_pending_intent(net, who)  # kill between journaling a move and its receipt
        else:
            time.sleep(rng.uniform(0.0, 0.1))
        daemon.kill()
        seen.append(progress(net, who) - base)
        daemon.start()
    return seen


def wait_for_pending_intent(net: NodeNet, who: str, timeout: float = 5.0) -> bool:
    """Poll the daemon's journal until some intent is `pending` (written, transaction not yet confirmed)."""
    intents = net.workdir / f"cache-{who}" / "intents"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in intents.glob("*.json"):
            try:
                if json.loads(path.read_text())["status"] == "pending":
                    return True
            except (OSError, ValueError, KeyError):
                continue
        time.sleep(0.001)
    return False


def assert_each_move_once(net: NodeNet, daemon: DaemonProcess, who: str) -> None:
    """No game state was answered twice, and no transaction of `who` reverted."""
    moves = Counter((e["game"], e["phase"], e["depth"], e["lo"], e["hi"]) for e in daemon.events("move_sent"))
    assert all(n == 1 for n in moves.values()), f"seed {SEED}: moves sent twice: {moves}"
    sender = Account.from_key(net.keys[who]).address
    sent = []
    for number in range(net.deployment.start_block, net.w3.eth.block_number + 1):
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                sent.append(net.w3.eth.get_transaction_receipt(tx["hash"]))
    assert all(r["status"] == 1 for r in sent), f"seed {SEED}: a transaction of the {who} reverted"
    assert not daemon.events("move_reverted"), f"seed {SEED}: a move of the {who} reverted on chain"
    # Nothing refused at estimation either: no stale move, and no race to the final step (only the party the
    # step favours sends it).
    stale = daemon.events("move_rejected")
    assert not stale, f"seed {SEED}: the {who} tried a stale move: {stale}"


def gas_paid(net: NodeNet, who: str) -> int:
    sender = Account.from_key(net.keys[who]).address
    total = 0
    for number in range(net.deployment.start_block, net.w3.eth.block_number + 1):
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                receipt = net.w3.eth.get_transaction_receipt(tx["hash"])
                total += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return total


def test_killed_challenger_resumes_and_slashes_the_liar(net: NodeNet) -> None:
    rng = random.Random(SEED)
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    me = Account.from_key(net.keys["challenger"]).address
    before = net.w3.eth.get_balance(me)
    net.daemon("submitter", faults=["lie:0.6.2:11"])
    challenger = net.daemon("challenger")
    request_id = ask(net, b"restart me")
    # the honest challenger's transactions: challenge, 8 picks, the step, the withdrawal
    kills = kill_and_restart_at(net, challenger, "challenger", sorted(rng.sample(range(1, 9), KILLS)), rng)
    assert len(set(kills)) == KILLS, f"seed {SEED}: kills at {kills} are not {KILLS} points"
    (over,) = challenger.wait_for("game_over", timeout=90)
    assert over["won"], f"seed {SEED}, kills at {kills}: the honest challenger lost"
    assert challenger.starts == KILLS + 1
    submission = coordinator.get_submission(coordinator.get_request(request_id).active_submission or 1)
    assert submission.status is SubmissionStatus.SLASHED
    challenger.wait_for("withdrawn")
    assert_each_move_once(net, challenger, "challenger")
    bond, burn = coordinator.submitter_bond(), coordinator.burn_bps()
    gained = net.w3.eth.get_balance(me) + gas_paid(net, "challenger") - before
    assert gained == bond - bond * burn // 10_000, f"seed {SEED}, kills at {kills}: bond accounting off"
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
    kills = kill_and_restart_at(net, submitter, "submitter", sorted(rng.sample(range(1, 8), KILLS)), rng)
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
    assert_each_move_once(net, submitter, "submitter")
    results = coordinator.contract.events.ResultSubmitted.get_logs(from_block=net.deployment.start_block)
    assert [e["args"]["submitter"] for e in results] == [me], f"seed {SEED}: submitted more than once"
    fee = 10**16
    bond = coordinator.challenger_bond()
    won = bond - bond * coordinator.burn_bps() // 10_000
    gained = net.w3.eth.get_balance(me) + gas_paid(net, "submitter") - before
    assert gained == fee + won, f"seed {SEED}, kills at {kills}: got {gained}, expected fee + won bond"
    assert len(challenger.events("game_over")) == 1
