"""The daemons on the real ML level stack (request → graph → tile → VM, decided by one on-chain MIPS step):
a submitter lying about one element of an MNIST MLP layer is slashed by the honest challenger daemon; a challenger
lying the same way loses its bond to the honest submitter (less the burned share), to the wei; both report the VM
time of the dispute (`opml_vm_seconds`).
"""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families

from fixtures_node import MlNet, gas_paid
from opml.chain.anvil import free_port
from opml.chain.bindings import RequestStatus, SubmissionStatus
from opml.ml.accuracy import as_float_input
from opml.node.deployment import ModelSpec
from opml.paths import REPO_ROOT

pytestmark = pytest.mark.net(kind=MlNet)

MODEL = "models/mnist_mlp.opml"
WINDOW = 600


def digit(net: MlNet, index: int) -> bytes:
    """MNIST test image `index` as the model's int8 input tensor bytes."""
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        return net.quantized.quantize_input(as_float_input(data["test_x"][index])).tobytes()


def address(net: MlNet, who: str) -> str:
    return Account.from_key(net.keys[who]).address


def scrape(port: int) -> dict[tuple[str, str], float]:
    """The daemon's `opml_vm_seconds` samples: (sample name, call label) → value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(sample.name, sample.labels.get("call", "")): sample.value
            for family in text_string_to_metric_families(text) if family.name == "opml_vm_seconds"
            for sample in family.samples}


def test_lying_ml_submitter_is_slashed_down_to_one_mips_step(net: MlNet) -> None:
    submitter = net.daemon("submitter", faults=["wrong-output:2:3"], model_dir=str(REPO_ROOT))
    challenger = net.daemon("challenger", model_dir=str(REPO_ROOT))
    net.request(digit(net, 11))
    (game,) = challenger.wait_for("challenged", timeout=60)
    (over,) = challenger.wait_for("game_over", lambda e: e["game"] == game["game"], timeout=240)
    assert over["won"] and over["phase"] == "CHALLENGER_WON"
    steps = [e for e in challenger.events("move_sent") + submitter.events("move_sent") if e["action"] == "Step"]
    assert len(steps) == 1 and steps[0]["depth"] == 3  # graph, tile and VM levels opened: one MIPS step
    assert net.coordinator.get_submission(game["submission"]).status is SubmissionStatus.SLASHED


def test_a_node_refuses_a_model_file_that_does_not_match_its_registered_commitment(net: MlNet) -> None:
    from opml.node.config import ConfigError, load_config
    from opml.node.submitter import Submitter

    def daemon_for(model_file: str) -> Submitter:
        deployment = net.deployment.model_copy(
            update={"models": {net.model_id: ModelSpec(kind="ml", model_file=model_file)}})
        config = load_config(None, rpc_url=net.rpc_url, private_key=net.keys["submitter"],
                             deployment=str(net.addresses), model_dir=str(REPO_ROOT), cache_dir=str(net.workdir))
        return Submitter(config, deployment)

    daemon_for(MODEL).check_chain()  # the registered file passes
    with pytest.raises(ConfigError, match="does not match the registered commitment"):
        daemon_for("models/mnist_cnn.opml").check_chain()  # another model's file under this model's id


def test_lying_ml_challenger_loses_its_bond_to_the_honest_submitter(net: MlNet) -> None:
    coordinator = net.coordinator
    ports = {"submitter": free_port(), "challenger": free_port()}
    challenger_before = net.w3.eth.get_balance(address(net, "challenger"))
    submitter = net.daemon("submitter", model_dir=str(REPO_ROOT), metrics_port=ports["submitter"])
    challenger = net.daemon("challenger", faults=["wrong-output:2:3"], model_dir=str(REPO_ROOT),
                            metrics_port=ports["challenger"])
    request_id = net.request(digit(net, 11))
    (game,) = challenger.wait_for("challenged", timeout=60)
    (over,) = submitter.wait_for("game_over", lambda e: e["game"] == game["game"], timeout=240)
    assert over["won"] and over["phase"] == "SUBMITTER_WON"
    steps = [e for e in challenger.events("move_sent") + submitter.events("move_sent") if e["action"] == "Step"]
    assert len(steps) == 1 and steps[0]["depth"] == 3  # decided by one MIPS step, sent by the submitter
    assert steps[0] in submitter.events("move_sent")

    # The settlement credits the submitter the challenger's bond less the burned share, and the challenger nothing.
    (settled,) = coordinator.contract.events.GameSettled.get_logs(from_block=net.deployment.start_block)
    assert settled["args"]["gameId"] == game["game"] and settled["args"]["submitterWon"]
    block = settled["blockNumber"]
    bond, burn_bps = coordinator.challenger_bond(), coordinator.burn_bps()
    burned = bond * burn_bps // 10_000
    assert burned > 0

    def credit(who: str, at: int) -> int:
        return coordinator.contract.functions.balanceOf(address(net, who)).call(block_identifier=at)

    assert credit("submitter", block) - credit("submitter", block - 1) == bond - burned
    assert credit("challenger", block) == credit("challenger", block - 1) == 0
    (burn,) = coordinator.contract.events.Burned.get_logs(from_block=block, to_block=block)
    assert burn["args"]["amount"] == burned

    # After the window the result is final; every wei the submitter withdraws is its fee, its bond and the
    # challenger's bond less the burned share; the challenger withdraws nothing and is out its bond plus gas.
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == request_id)
    assert coordinator.get_request(request_id).status is RequestStatus.FINALIZED
    submitter.wait_for("withdrawn", lambda e: e["amount"] >= net.fee + coordinator.submitter_bond())

    def withdrawn(who: str) -> int:
        logs = coordinator.contract.events.Withdrawn.get_logs(from_block=net.deployment.start_block)
        return sum(e["args"]["amount"] for e in logs if e["args"]["account"] == address(net, who))

    assert withdrawn("submitter") == net.fee + coordinator.submitter_bond() + bond - burned
    assert withdrawn("challenger") == 0 and coordinator.balance_of(address(net, "challenger")) == 0
    spent = challenger_before - net.w3.eth.get_balance(address(net, "challenger"))
    assert spent == bond + gas_paid(net, "challenger")

    # Both played down to the VM: one tile's kernel run each and its state roots timed; the step witness by the
    # party that stepped (the other builds one only if it reads the game at its step before the step is mined:
    # a race it may lose, the game then being over when it looks).
    for who in ("submitter", "challenger"):
        vm = scrape(ports[who])
        assert vm[("opml_vm_seconds_count", "trace")] == 1.0, (who, vm)
        assert vm[("opml_vm_seconds_sum", "trace")] > 0.0, (who, vm)
        assert vm[("opml_vm_seconds_count", "state")] >= 1.0, (who, vm)
        if who == "submitter":
            assert vm[("opml_vm_seconds_count", "witness")] >= 1.0, (who, vm)
