"""The chain is the daemons' only truth: real daemons on Anvil while the chain is rolled back (evm_snapshot and
evm_revert, then new blocks), reorganized (`anvil_reorg` of depth >= 2 dropping a transaction) or replaced (a fresh
Anvil on the same port with the same contract addresses). Every dropped challenge or submission is sent again,
the liar's wrong result never finalizes, and nothing of the old chain is ever submitted on the new one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from opml.chain.anvil import Anvil
from opml.chain.bindings import CoordinatorContract, RequestStatus, SubmissionStatus
from opml.node.devnet import DevnetParams, deploy_devnet
from opml.node.monitor import Monitor
from opml.node.process import DaemonProcess
from fixtures_node import NodeNet, ask, model_fee

WINDOW = 600  # chain time moves with the wall clock: long enough for a rollback and a second game
PARAMS = DevnetParams(challenge_window=WINDOW)
pytestmark = pytest.mark.net(params=PARAMS)
LIE = "lie:0.7.3:1"


def logs(net: NodeNet, name: str) -> list:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    return getattr(coordinator.contract.events, name).get_logs(from_block=net.deployment.start_block)


def reorg_out(net: NodeNet, block: int) -> int:
    """Replace every block from `block` on (at least two) with empty ones: what they held is gone."""
    depth = max(2, net.w3.eth.block_number - block + 1)
    net.w3.provider.make_request("anvil_reorg", [depth, []])
    return depth


def assert_liar_never_finalized(net: NodeNet, request_id: int) -> None:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    assert coordinator.get_request(request_id).status is not RequestStatus.FINALIZED
    assert logs(net, "Finalized") == []


def reorg_out_the_challenge_and_win_again(net: NodeNet, challenger: DaemonProcess, request_id: int,
                                          timeout: float) -> None:
    """Reorganize the only challenge out of the chain; the challenger sees the reorg, challenges again and wins
    the one game that stands, and the liar's answer never finalizes."""
    (challenged,) = logs(net, "Challenged")
    depth = reorg_out(net, challenged["blockNumber"])
    assert logs(net, "Challenged") == [], f"anvil_reorg({depth}) left the challenge in place"
    challenger.wait_for("chain_reorg")
    challenger.wait_for("challenged", count=2)
    over = challenger.wait_for("game_over", timeout=timeout)[-1]
    assert over["won"]
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    assert coordinator.get_submission(1).status is SubmissionStatus.SLASHED
    assert len(logs(net, "Challenged")) == 1
    assert_liar_never_finalized(net, request_id)


def test_rollback_of_a_won_challenge_is_challenged_and_won_again(net: NodeNet) -> None:
    liar = net.daemon("submitter", faults=[LIE])
    request_id = ask(net, b"roll me back")
    liar.wait_for("result_submitted")
    snapshot = net.w3.provider.make_request("evm_snapshot", [])["result"]  # after the liar's submission
    challenger = net.daemon("challenger")
    (first,) = challenger.wait_for("game_over", timeout=90)
    assert first["won"]
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    assert coordinator.get_submission(1).status is SubmissionStatus.SLASHED
    assert net.w3.provider.make_request("evm_revert", [snapshot])["result"]  # the challenge and the game are gone
    net.w3.provider.make_request("evm_mine", [])
    assert coordinator.get_submission(1).status is SubmissionStatus.PENDING
    challenger.wait_for("chain_reorg")
    second = challenger.wait_for("game_over", count=2, timeout=90)[1]
    assert second["won"], "the honest challenger lost the replayed game"
    assert coordinator.get_submission(1).status is SubmissionStatus.SLASHED
    me = Account.from_key(net.keys["challenger"]).address
    assert [e["args"]["challenger"] for e in logs(net, "Challenged")] == [me]
    assert challenger.events("move_dropped"), "the journal trusted a challenge whose block was rolled back"
    assert_liar_never_finalized(net, request_id)


def test_challenge_dropped_by_a_reorg_is_sent_again_and_won(net: NodeNet) -> None:
    liar = net.daemon("submitter", faults=[LIE])
    request_id = ask(net, b"reorg the challenge")
    liar.wait_for("result_submitted", timeout=120)
    for _ in range(2):  # the liar's submission stays below the reorganized blocks
        net.w3.provider.make_request("evm_mine", [])
    challenger = net.daemon("challenger")
    challenger.wait_for("challenged", timeout=120)
    reorg_out_the_challenge_and_win_again(net, challenger, request_id, timeout=90)


def test_challenge_dropped_above_a_slow_monitors_head_is_sent_again_and_won(net: NodeNet) -> None:
    """The race the test above can lose: the challenger's monitor last polled the block before its challenge, and
    the reorg replaces only the challenge's block and the liar's answer above it. The challenger acted on its
    receipt, so it must see the reorg all the same (not retry a game that no longer exists forever)."""
    liar = net.daemon("submitter", faults=[LIE])
    request_id = ask(net, b"reorg above the head")
    liar.wait_for("result_submitted", timeout=120)
    for _ in range(2):
        net.w3.provider.make_request("evm_mine", [])
    challenger = net.daemon("challenger", poll_interval_s=2.0)  # its next poll comes after the liar's answer
    challenger.wait_for("challenged", timeout=120)
    liar.wait_for("move_sent", timeout=30)
    (challenged,) = logs(net, "Challenged")
    assert net.w3.eth.block_number > challenged["blockNumber"], "the liar's answer is not above the challenge"
    reorg_out_the_challenge_and_win_again(net, challenger, request_id, timeout=120)


def test_reorg_above_the_last_polled_head_is_seen_through_a_witnessed_receipt(net: NodeNet) -> None:
    """The shape the challenge above can take when the challenger's monitor is slow: its own challenge (block C)
    and the liar's answer (C+1) are both replaced while the monitor last polled C-1, below every replaced block.
    The monitor remembers the receipt's block the daemon acted on, so the reorg is seen all the same."""
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    monitors = [Monitor(net.w3, [coordinator.contract], net.deployment.start_block) for _ in range(2)]
    for monitor in monitors:
        monitor.poll()
    polled = net.w3.eth.block_number
    ask(net, b"a receipt the monitor never polled")
    receipt = net.w3.eth.get_block("latest")
    net.w3.provider.make_request("evm_mine", [])
    witnessing, blind = monitors
    witnessing.witness(receipt["number"], receipt["hash"])
    assert reorg_out(net, receipt["number"]) == 2 and receipt["number"] == polled + 1
    assert blind.poll().fork is None  # what the polled blocks alone show: nothing (every replaced one is above)
    assert witnessing.poll().fork == polled
    assert witnessing.reorgs == 1


def test_submission_dropped_by_a_reorg_is_sent_again_and_finalized(net: NodeNet) -> None:
    request_id = ask(net, b"reorg the submission")
    for _ in range(2):  # the request stays below the reorganized blocks
        net.w3.provider.make_request("evm_mine", [])
    submitter = net.daemon("submitter")
    submitter.wait_for("result_submitted")
    (submitted,) = logs(net, "ResultSubmitted")
    reorg_out(net, submitted["blockNumber"])
    assert logs(net, "ResultSubmitted") == []
    submitter.wait_for("result_submitted", count=2)
    me = Account.from_key(net.keys["submitter"]).address
    assert [e["args"]["submitter"] for e in logs(net, "ResultSubmitted")] == [me]
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    assert coordinator.get_request(request_id).status is RequestStatus.FINALIZED


def test_chain_replaced_under_running_daemons_no_stale_output(contracts_built: None, tmp_path: Path) -> None:
    old_chain = Anvil().start()
    port = old_chain.port
    new_chain = Anvil()
    net = NodeNet(old_chain.web3(), old_chain.url, tmp_path, PARAMS)
    try:
        submitter = net.daemon("submitter")
        challenger = net.daemon("challenger")
        ask(net, b"the old chain's question")
        challenger.wait_for("result_agreed")
        old_output = logs(net, "ResultSubmitted")[0]["args"]["output"]
        old_chain.stop()  # `opml devnet down` …
        new_chain.start(port)  # … and `up` again: same port, same chain id, same addresses, other blocks
        net.w3 = new_chain.web3()
        again = deploy_devnet(net.w3, PARAMS)
        assert (again.coordinator, again.start_block) == (net.deployment.coordinator, net.deployment.start_block)
        request_id = ask(net, b"a new question")
        assert request_id == 1  # the same id as the old chain's request
        for daemon in (submitter, challenger):
            daemon.wait_for("chain_replaced", timeout=30)
        challenger.wait_for("result_agreed", count=2, timeout=30)
        (submitted,) = logs(net, "ResultSubmitted")
        assert submitted["args"]["output"] != old_output
        assert not challenger.events("result_disputed"), "a stale output was submitted on the new chain"
        assert submitter.events("foreign_state_ignored") or challenger.events("chain_state")
        net.warp(WINDOW + 1)
        submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    finally:
        net.stop_all()
        old_chain.stop()
        new_chain.stop()


BACKLOG = 200  # enough to tell a cached claim from a recomputed one; the 2,000-request figure is bench_node_load's


def test_restart_under_a_backlog_reuses_cached_claims(net: NodeNet) -> None:
    """200 open requests; a submitter that cannot pay computes and caches every claim, is killed, funded and
    started again: it submits without running any inference again (every claim comes from its cache)."""
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    requester = Account.from_key(net.keys["requester"]).address
    fee = model_fee(net)
    net.w3.provider.make_request("evm_setAutomine", [False])
    try:
        nonce = net.w3.eth.get_transaction_count(requester)
        for i in range(BACKLOG):
            coordinator.request(1, b"backlog %d" % i).transact({"from": requester, "value": fee, "nonce": nonce + i,
                                                                  "gas": 300_000})
        while net.w3.eth.get_transaction_count(requester) < nonce + BACKLOG:  # a block holds ~100 of them
            net.w3.provider.make_request("evm_mine", [])
    finally:
        net.w3.provider.make_request("evm_setAutomine", [True])
    assert coordinator.contract.functions.requestCount().call() >= BACKLOG
    broke = Account.create()
    net.keys["submitter"] = broke.key.hex()
    submitter = net.daemon("submitter", log_level="info")
    submitter.wait_for("claim_computed", count=BACKLOG, timeout=120)
    submitter.kill()
    net.w3.provider.make_request("anvil_setBalance", [broke.address, hex(10**24)])
    computed = len(submitter.events("claim_computed"))
    submitter.start()
    submitter.wait_for("result_submitted", timeout=60)
    assert len(submitter.events("daemon_started")) == 2
    assert len(submitter.events("claim_computed")) == computed, "the restarted submitter ran inference again"
