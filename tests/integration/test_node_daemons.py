"""The submitter and challenger daemons as real processes on Anvil, over the toy levels (8, 4, 16; N = 3):
the honest path finalizes and calls the ExampleConsumer back; a lying submitter is slashed by the honest
challenger; a lying challenger loses to the honest submitter. Bonds end where docs/game.md says.
"""

from __future__ import annotations

import urllib.request

import pytest
from eth_account import Account

from fixtures_node import NodeNet, ask, model_fee
from opml.chain.anvil import free_port
from opml.game.settlement import slash_share
from opml.chain.bindings import CoordinatorContract, RequestStatus, SubmissionStatus
from opml.chain.build import load_artifact
from opml.game.toy import ToyTrace

WINDOW = 600


def honest_output(net: NodeNet, request_id: int) -> bytes:
    anchor = CoordinatorContract(net.w3, net.deployment.coordinator).get_request(request_id).anchor
    return ToyTrace.request(bytes(anchor), (8, 4, 16)).claim_preimage(1)


def address(net: NodeNet, who: str) -> str:
    return Account.from_key(net.keys[who]).address


def test_honest_path_finalizes_and_calls_back(net: NodeNet) -> None:
    metrics_port = free_port()
    submitter = net.daemon("submitter", metrics_port=metrics_port)
    challenger = net.daemon("challenger")
    request_id = ask(net, b"what is 2+2", through_consumer=True)
    submitter.wait_for("result_submitted", lambda e: e["request"] == request_id)
    challenger.wait_for("result_agreed", lambda e: e["request"] == request_id)
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    consumer = net.w3.eth.contract(address=net.deployment.consumer, abi=load_artifact("ExampleConsumer").abi)
    assert consumer.functions.answered(request_id).call()
    assert consumer.functions.outputOf(request_id).call() == honest_output(net, request_id)
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    assert coordinator.get_request(request_id).status is RequestStatus.FINALIZED
    submitter.wait_for("withdrawn")  # fee + bond back
    assert coordinator.balance_of(address(net, "submitter")) == 0
    assert not challenger.events("challenged")
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    assert "opml_submissions_total 1.0" in scraped and "opml_inference_seconds_count 1.0" in scraped
    bond = coordinator.submitter_bond()
    assert f"opml_bonds_posted_wei_total {float(bond)}" in scraped


def test_lying_submitter_is_slashed_by_the_honest_challenger(net: NodeNet) -> None:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    bond = coordinator.submitter_bond()
    challenger_before = net.w3.eth.get_balance(address(net, "challenger"))
    submitter = net.daemon("submitter", faults=["lie:0.3.1:7"])
    challenger = net.daemon("challenger")
    request_id = ask(net, b"lie to me", through_consumer=True)
    (game,) = challenger.wait_for("challenged", lambda e: e["request"] == request_id)
    (over,) = challenger.wait_for("game_over", lambda e: e["game"] == game["game"])
    assert over["won"] and over["phase"] == "CHALLENGER_WON"
    submitter.wait_for("game_over", lambda e: e["game"] == game["game"] and not e["won"])
    submission = coordinator.get_submission(game["submission"])
    assert submission.status is SubmissionStatus.SLASHED
    assert coordinator.get_request(request_id).status is RequestStatus.OPEN
    submitter.wait_for("not_resubmitting", lambda e: e["request"] == request_id)
    challenger.wait_for("withdrawn")
    gained = net.w3.eth.get_balance(address(net, "challenger")) - challenger_before
    gas = _gas_paid(net, address(net, "challenger"))
    assert gained + gas == slash_share(bond, 1)  # the slash reward (20% of the liar's bond; the rest is burned)
    _assert_no_reverted_moves(net, address(net, "challenger"))


def test_lying_challenger_loses_to_the_honest_submitter(net: NodeNet) -> None:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    challenger_before = net.w3.eth.get_balance(address(net, "challenger"))
    submitter = net.daemon("submitter")
    challenger = net.daemon("challenger", faults=["lie:0.5:2"])
    request_id = ask(net, b"trust me", through_consumer=True)
    (game,) = challenger.wait_for("challenged", lambda e: e["request"] == request_id)
    (over,) = submitter.wait_for("game_over", lambda e: e["game"] == game["game"])
    assert over["won"] and over["phase"] == "SUBMITTER_WON"
    bond = coordinator.challenger_bond()
    won = bond - bond * coordinator.burn_bps() // 10_000
    (settled,) = coordinator.contract.events.GameSettled.get_logs(from_block=net.deployment.start_block)
    credits = coordinator.contract.functions.balanceOf
    at, submitter_address = settled["blockNumber"], address(net, "submitter")
    # Pipelined transactions may share the settling block: add back what the submitter withdrew in that block.
    withdrawn = sum(log["args"]["amount"] for log in coordinator.contract.events.Withdrawn.get_logs(
        from_block=at, to_block=at, argument_filters={"account": submitter_address}))
    assert credits(submitter_address).call(block_identifier=at) - \
        credits(submitter_address).call(block_identifier=at - 1) + withdrawn == won, \
        f"the liar's bond less the burn, credited at {at}: {dict(settled['args'])}, head {net.w3.eth.block_number}"
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    assert coordinator.get_request(request_id).status is RequestStatus.FINALIZED
    _assert_no_reverted_moves(net, submitter_address)
    submitter.wait_for("withdrawn", lambda e: e["amount"] >= coordinator.submitter_bond())
    fee = model_fee(net)
    withdrawals = coordinator.contract.events.Withdrawn.get_logs(from_block=net.deployment.start_block)
    paid = {who: sum(e["args"]["amount"] for e in withdrawals if e["args"]["account"] == address(net, who))
            for who in ("submitter", "challenger")}
    assert paid == {"submitter": fee + coordinator.submitter_bond() + won, "challenger": 0}
    lost = challenger_before - net.w3.eth.get_balance(address(net, "challenger"))
    assert lost == bond + _gas_paid(net, address(net, "challenger"))  # the challenger is out exactly its bond


def _txs_from(net: NodeNet, sender: str) -> list:
    receipts = []
    for number in range(net.deployment.start_block, net.w3.eth.block_number + 1):
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                receipts.append((tx, net.w3.eth.get_transaction_receipt(tx["hash"])))
    return receipts


def _gas_paid(net: NodeNet, sender: str) -> int:
    return sum(int(r["gasUsed"]) * int(r["effectiveGasPrice"]) for _, r in _txs_from(net, sender))


def _assert_no_reverted_moves(net: NodeNet, sender: str) -> None:
    """Every transaction the honest node sent was accepted (a duplicate move would revert)."""
    failed = [tx["hash"].hex() for tx, r in _txs_from(net, sender) if r["status"] != 1]
    assert not failed, f"reverted transactions from {sender}: {failed}"


def test_sigterm_stops_the_daemon_cleanly(net: NodeNet) -> None:
    daemon = net.daemon("challenger")
    daemon.wait_for("daemon_started")
    daemon.stop()
    assert daemon.process is not None and daemon.process.returncode == 0
    assert daemon.events("daemon_stopped")


def test_two_honest_challengers_one_slashes_the_other_gets_its_bond_back(net: NodeNet) -> None:
    from opml.chain.anvil import DEV_PRIVATE_KEYS

    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    second = Account.from_key(DEV_PRIVATE_KEYS[4]).address
    net.keys["challenger2"] = DEV_PRIVATE_KEYS[4]
    before = {who: net.w3.eth.get_balance(address(net, who)) for who in ("challenger", "challenger2")}
    net.daemon("submitter", faults=["lie:0.7.3:1"])
    first = net.daemon("challenger")
    other = net.daemon("challenger", name="challenger2", private_key=DEV_PRIVATE_KEYS[4])
    request_id = ask(net, b"two watchers", through_consumer=True)
    games = {first.wait_for("challenged")[0]["game"], other.wait_for("challenged")[0]["game"]}
    assert len(games) == 2
    outcomes = {d.role + str(i): d.wait_for("game_over", timeout=60)[0] for i, d in enumerate((first, other))}
    assert "CHALLENGER_WON" in {o["phase"] for o in outcomes.values()}, outcomes
    assert {o["phase"] for o in outcomes.values()} <= {"CANCELLED", "CHALLENGER_WON"}, outcomes
    # on chain: exactly one game slashed the submission; the other was made moot by that slash — released by its
    # challenger, or, when both games reached their last step in the same round, ended after the slash and settled
    # as moot (the coordinator then pays it exactly as a released one)
    events = coordinator.contract.events
    settled = {e["args"]["gameId"]: e["args"] for e in events.GameSettled().get_logs(from_block=0)}
    released = {e["args"]["gameId"] for e in events.GameReleased().get_logs(from_block=0)}
    decisive = [game for game, args in settled.items() if not args["moot"]]
    assert len(decisive) == 1 and not settled[decisive[0]]["submitterWon"], (settled, released)
    (moot,) = games - set(decisive)
    assert (moot in released) != (moot in settled and settled[moot]["moot"]), (settled, released)
    assert coordinator.get_request(request_id).status is RequestStatus.OPEN
    for daemon in (first, other):
        daemon.wait_for("withdrawn")
    bond = coordinator.submitter_bond()
    gains = {who: net.w3.eth.get_balance(address(net, who)) + _gas_paid(net, address(net, who)) - before[who]
             for who in ("challenger", "challenger2")}
    # the winner and the released one are the slash's two claimants: each gets its bond back and the same share
    assert sorted(gains.values()) == [slash_share(bond, 2)] * 2, (gains, outcomes)
    assert second in {address(net, w) for w in gains}
    for who in ("challenger", "challenger2"):
        _assert_no_reverted_moves(net, address(net, who))


def test_a_cancelled_request_ends_the_wait_and_refunds_the_fee(net: NodeNet) -> None:
    from opml.node.sdk import RequestError, Requester

    requester = Requester.connect(net.rpc_url, net.keys["requester"], net.deployment)
    request_id = requester.request(1, b"nobody serves this")  # no submitter runs: it stays open
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    net.w3.provider.make_request("evm_increaseTime", [coordinator.request_timeout()])
    net.w3.provider.make_request("evm_mine", [])
    fee = requester.fee(1)
    me = address(net, "requester")
    net.w3.eth.wait_for_transaction_receipt(coordinator.cancel_request(request_id).transact({"from": me}))
    assert coordinator.get_request(request_id).status is RequestStatus.CANCELLED
    assert coordinator.contract.functions.balanceOf(me).call() == fee
    with pytest.raises(RequestError, match="cancelled"):
        requester.wait_final(request_id, timeout_s=30, poll_s=0.1)
