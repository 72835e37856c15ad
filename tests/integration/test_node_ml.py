"""The daemons on the real ML level stack (request → graph → tile → VM, decided by one on-chain MIPS step):
a submitter lying about one element of an MNIST MLP layer is slashed by the honest challenger daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import Anvil
from opml.chain.bindings import SubmissionStatus
from opml.chain.build import REPO_ROOT
from opml.levels.commitments import ModelCommitment
from opml.levels.stack import MlStackConfig, deploy_ml_stack
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.node.deployment import Deployment, ModelSpec
from opml.node.testing import NodeNet

MODEL = "models/mnist_mlp.opml"


class MlNet(NodeNet):
    """NodeNet over the ML stack with the MNIST MLP registered (kind "ml")."""

    def __init__(self, w3: Web3, rpc_url: str, workdir: Path) -> None:  # noqa: D107 — deploys instead of the toy
        from opml.chain.anvil import DEV_PRIVATE_KEYS

        self.w3, self.rpc_url, self.workdir, self.daemons = w3, rpc_url, workdir, []
        self.keys = {"requester": DEV_PRIVATE_KEYS[1], "submitter": DEV_PRIVATE_KEYS[2],
                     "challenger": DEV_PRIVATE_KEYS[3]}
        start = w3.eth.block_number + 1
        stack = deploy_ml_stack(w3, MlStackConfig(challenge_window=600))
        quantized = QuantizedModel.load(REPO_ROOT / MODEL)
        self.quantized = quantized
        model_id = stack.register(ModelCommitment(quantized.model, plan_model(quantized.model)))
        self.deployment = Deployment(network="ml-test", chain_id=w3.eth.chain_id, start_block=start,
                                     coordinator=stack.bindings.coordinator.address,
                                     game=stack.bindings.game.address, registry=stack.registry.address,
                                     models={model_id: ModelSpec(kind="ml", model_file=MODEL)})
        self.model_id = model_id
        self.fee = stack.config.model_fee
        self.coordinator = stack.bindings.coordinator
        self.addresses = workdir / "ml.json"
        self.deployment.save(self.addresses)


@pytest.fixture
def net(anvil: Anvil, w3: Web3, contracts_built: None, tmp_path: Path) -> Iterator[MlNet]:
    network = MlNet(w3, anvil.url, tmp_path)
    try:
        yield network
    finally:
        network.stop_all()


def test_lying_ml_submitter_is_slashed_down_to_one_mips_step(net: MlNet) -> None:
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digit = net.quantized.quantize_input(as_float_input(data["test_x"][11]))
    submitter = net.daemon("submitter", faults=["wrong-output:2:3"], model_dir=str(REPO_ROOT))
    challenger = net.daemon("challenger", model_dir=str(REPO_ROOT))
    requester = Account.from_key(net.keys["requester"]).address
    call = net.coordinator.request(net.model_id, digit.tobytes())
    net.w3.eth.wait_for_transaction_receipt(call.transact({"from": requester, "value": net.fee}))
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
