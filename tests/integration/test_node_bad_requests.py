"""Bad requests and bad configuration, as real `opml` processes against Anvil with the MNIST CNN deployed: each
case prints exactly one line on stderr, exits non-zero, and sends nothing (the requester's nonce and the
coordinator's request count do not move)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from fixtures_node import assert_one_line_failure, nothing_sent, opml
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.paths import REPO_ROOT
from opml.node.deployment import Deployment, ModelSpec
from opml.node.devnet import DevnetParams, deploy_ml_devnet
from opml.node.process import DaemonProcess, write_config
from opml.node.submitter import FUNDS_CHECK_S


@pytest.fixture(scope="module")
def chain(anvil: Anvil, w3: Web3, contracts_built: None, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Anvil, Deployment, Path]]:
    workdir = tmp_path_factory.mktemp("bad-requests")
    deployment = deploy_ml_devnet(w3, [REPO_ROOT / "models" / "mnist_cnn.opml"], DevnetParams(), network="bad")
    path = workdir / "ml.json"
    deployment.save(path)
    yield anvil, deployment, path


def test_bad_request_inputs_are_refused_before_paying(chain, w3: Web3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anvil, deployment, path = chain
    common = ("--deployment", str(path), "--rpc-url", anvil.url)
    before = nothing_sent(w3, deployment)
    np.save(tmp_path / "three.npy", np.ones((3, 3), dtype=np.int8))
    nan = np.zeros((28, 28), dtype=np.float32)
    nan[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "20k.bin").write_bytes(b"\x01" * 20_000)
    (tmp_path / "1m.bin").write_bytes(b"\x01" * 1_000_000)
    cases = {
        '"hello"': ("5 bytes", "784 bytes"),
        "[1,2,3]": ("7 bytes", "784 bytes"),
        str(tmp_path / "three.npy"): ("shape [3, 3]", "784 bytes"),
        str(tmp_path / "20k.bin"): ("20000 bytes", "784 bytes"),
        str(tmp_path / "nan.npy"): ("NaN",),
        str(tmp_path / "1m.bin"): ("1000000 bytes",),
        "not json at all": ("neither a file nor JSON",),
    }
    for text, needles in cases.items():
        assert_one_line_failure(opml("request", "--model", "1", "--input", text, *common), "opml request:", *needles)
    assert_one_line_failure(opml("request", "--model", "99", "--input", '"x"', *common), "UnknownModel")
    unfunded = "0x" + "42" * 32
    digit = f"{REPO_ROOT}/models/mnist_data.npz:test_x"
    assert_one_line_failure(opml("request", "--model", "1", "--input", digit, "--index", "3", "--key", unfunded,
                                 *common), "fund it first")
    assert nothing_sent(w3, deployment) == before


def test_oversized_input_for_a_model_without_a_local_file(chain, w3: Web3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anvil, deployment, _ = chain
    blind = deployment.model_copy(update={"models": {1: ModelSpec(kind="ml")}})  # no model file here to check with
    blind_path = tmp_path / "blind.json"
    blind.save(blind_path)
    before = nothing_sent(w3, deployment)
    for size in (1_000_000, 5_000_000):
        (tmp_path / f"{size}.bin").write_bytes(b"\x02" * size)
        result = opml("request", "--model", "1", "--input", str(tmp_path / f"{size}.bin"), "--deployment",
                      str(blind_path), "--rpc-url", anvil.url)
        assert_one_line_failure(result, "InputTooLarge", f"{size} bytes")
    assert nothing_sent(w3, deployment) == before


def test_wrong_coordinator_address_is_one_line(chain, w3: Web3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anvil, deployment, _ = chain
    wrong = deployment.model_copy(update={"coordinator": deployment.registry})
    wrong_path = tmp_path / "wrong.json"
    wrong.save(wrong_path)
    before = nothing_sent(w3, deployment)
    result = opml("request", "--model", "1", "--input", '"x"', "--deployment", str(wrong_path), "--rpc-url", anvil.url)
    assert_one_line_failure(result, "not the deployment's coordinator")
    config = write_config(tmp_path / "s.toml", private_key=DEV_PRIVATE_KEYS[2], rpc_url=anvil.url,
                          deployment=str(wrong_path), model_dir=str(REPO_ROOT), cache_dir=str(tmp_path / "c"),
                          embedded_broker=False)
    assert_one_line_failure(opml("submitter", "--config", str(config)), "not the deployment's coordinator")
    assert nothing_sent(w3, deployment) == before


def test_bad_node_configuration_is_one_line(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anvil, _, path = chain
    config = write_config(tmp_path / "s.toml", private_key=DEV_PRIVATE_KEYS[2], rpc_url=anvil.url,
                          deployment=str(path), model_dir=str(REPO_ROOT), cache_dir=str(tmp_path / "c"),
                          embedded_broker=False, log_format="json")
    assert_one_line_failure(opml("submitter", "--config", str(config), env={"OPML_MODELS": "abc"}),
                            "models", "OPML_MODELS='[1, 3]'")
    relative = tmp_path / "conf"
    relative.mkdir()
    (relative / "ml.json").write_text(path.read_text())
    write_config(relative / "r.toml", private_key=DEV_PRIVATE_KEYS[2], deployment="ml.json")
    from opml.node.config import load_config

    assert load_config(relative / "r.toml").deployment == relative / "ml.json"  # next to the file, not above it
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = opml("submitter", "--config", str(config), env={"OPML_METRICS_PORT": str(port)})
    assert_one_line_failure(result, f"port {port}")


def test_registering_the_same_model_file_twice_is_refused(chain) -> None:  # type: ignore[no-untyped-def]
    anvil, _, path = chain
    result = opml("register-model", "models/mnist_cnn.opml", "--deployment", str(path), "--rpc-url", anvil.url)
    assert_one_line_failure(result, "already registered as model 1")


def test_an_unfunded_submitter_says_so_at_start(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anvil, _, path = chain
    config = write_config(tmp_path / "s.toml", private_key="0x" + "43" * 32, rpc_url=anvil.url,
                          deployment=str(path), model_dir=str(REPO_ROOT), cache_dir=str(tmp_path / "c"),
                          embedded_broker=False, log_format="json")
    daemon = DaemonProcess("submitter", config, tmp_path / "s.log").start()
    try:
        (event,) = daemon.wait_for("unfunded", timeout=60)
        assert event["balance_wei"] == 0 and event["needed_wei"] > 0
        lines = [line for line in (tmp_path / "s.log").read_text().splitlines() if line.strip()]
        assert all(isinstance(json.loads(line), dict) for line in lines)  # JSON logs stay JSON
    finally:
        daemon.stop()


def test_an_unfunded_submitter_waits_for_funds_then_answers(chain, w3: Web3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """It sends nothing while it cannot pay (no failing attempt per request and poll), says so once, and submits
    as soon as the account is funded."""
    anvil, _, path = chain
    key = "0x" + "44" * 32
    address = Account.from_key(key).address
    config = write_config(tmp_path / "s.toml", private_key=key, rpc_url=anvil.url, deployment=str(path),
                          model_dir=str(REPO_ROOT), cache_dir=str(tmp_path / "c"), embedded_broker=False,
                          log_format="json", poll_interval_s=0.2)
    daemon = DaemonProcess("submitter", config, tmp_path / "s.log").start()
    try:
        daemon.wait_for("daemon_started", timeout=60)
        digit = f"{REPO_ROOT}/models/mnist_data.npz:test_x"
        assert opml("request", "--model", "1", "--input", digit, "--index", "5", "--deployment", str(path),
                    "--rpc-url", anvil.url).returncode == 0
        daemon.wait_for("unfunded_waiting", timeout=60)
        time.sleep(2 * FUNDS_CHECK_S)
        assert w3.eth.get_transaction_count(address) == 0 and not daemon.events("task_failed")
        w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])
        daemon.wait_for("result_submitted", timeout=60)
        assert len(daemon.events("unfunded_waiting")) == 1
    finally:
        daemon.stop()
