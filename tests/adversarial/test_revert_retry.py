"""Attack: make an honest party's transaction revert once, so it sits out its clock (audit finding 6).

A block producer who wants the liar's result to stand includes the honest challenger's `challenge` in a block it
timestamps past the challenge window: the challenge is mined and reverts (`WindowClosed`, gas spent). That block
does not last (the producer cannot keep the chain's clock ahead; another block replaces it), so on the canonical
chain the window is still open and the challenge was never made. A node that journals the move as `reverted` and
never sends it again for that state leaves the liar's wrong result to finalize. The honest challenger must send it
again and win.
"""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from opml.chain.bindings import CoordinatorContract, RequestStatus, SubmissionStatus
from opml.node.devnet import DevnetParams
from fixtures_node import NodeNet, ask

WINDOW = 600
pytestmark = pytest.mark.net(params=DevnetParams(challenge_window=WINDOW))


def _pool_has_tx_from(net: NodeNet, address: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while net.w3.eth.get_transaction_count(address, "pending") == net.w3.eth.get_transaction_count(address):
        assert time.monotonic() < deadline, "the challenger sent nothing"
        time.sleep(0.05)


def test_a_move_reverted_in_a_replaced_block_is_sent_again(net: NodeNet) -> None:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    liar = net.daemon("submitter", faults=["lie:0.7.3:1"])
    request_id = ask(net, b"revert the honest move")
    liar.wait_for("result_submitted")
    window_end = coordinator.get_submission(1).window_end
    honest = Account.from_key(net.keys["challenger"]).address
    before_attack = net.w3.provider.make_request("evm_snapshot", [])["result"]
    with net.manual_mining():
        challenger = net.daemon("challenger")
        _pool_has_tx_from(net, honest)
        # the attacking producer mines the challenge into a block stamped after the window: it reverts, gas spent
        net.w3.provider.make_request("evm_setNextBlockTimestamp", [window_end + 1])
        net.w3.provider.make_request("evm_mine", [])
        (reverted,) = challenger.wait_for("move_reverted", timeout=30)
        assert reverted["action"] == "challenge"  # (its replay on the parent block cannot name the error)
        # … and its block is replaced by one at the honest time: on the canonical chain nothing was challenged
        assert net.w3.provider.make_request("evm_revert", [before_attack])["result"]
    net.w3.provider.make_request("evm_mine", [])
    assert coordinator.get_submission(1).status is SubmissionStatus.PENDING
    (over,) = challenger.wait_for("game_over", timeout=90)
    assert over["won"], "the honest challenger did not win after its challenge was reverted once"
    assert coordinator.get_submission(1).status is SubmissionStatus.SLASHED
    assert coordinator.get_request(request_id).status is not RequestStatus.FINALIZED
    challenges = coordinator.contract.events.Challenged.get_logs(from_block=net.deployment.start_block)
    assert [e["args"]["challenger"] for e in challenges] == [honest]
