"""The operator- and dapp-facing commands as real processes: `opml devnet up/down` brings up Anvil, a broker and
a deployment; `opml request … --wait` and `opml result` go through the SDK against live daemons; `opml devnet
deploy --model` serves the MNIST CNN (a real digit's result is final and is the native prediction) and `opml
register-model` adds a model to a deployment; the docker-compose file is valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil, free_port
from opml.chain.bindings import ModelRegistryContract
from opml.node import devnet
from opml.node.deployment import load_deployment
from opml.node.process import DaemonProcess, write_config
from opml.node.sdk import Requester, RequestError
from opml.paths import REPO_ROOT


def opml(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opml.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture
def local_devnet(tmp_path: Path, contracts_built: None):  # type: ignore[no-untyped-def]
    """`devnet.up` on free ports with its files under tmp_path; `devnet.down` afterwards."""
    runtime, addresses = tmp_path / "runtime", tmp_path / "local.json"
    state = devnet.up(free_port(), free_port(), runtime_dir=runtime, addresses=addresses)
    try:
        yield state, addresses, runtime
    finally:
        if (runtime / "devnet.json").is_file():
            devnet.down(runtime)


def test_devnet_up_with_a_block_time_mines_blocks_of_many_transactions(tmp_path: Path, contracts_built: None) -> None:
    runtime, addresses = tmp_path / "runtime", tmp_path / "local.json"
    with pytest.raises(devnet.DevnetError, match="block time -1 s"):
        devnet.up(free_port(), free_port(), runtime_dir=runtime, addresses=addresses, block_time=-1)
    state = devnet.up(free_port(), free_port(), runtime_dir=runtime, addresses=addresses, block_time=1)
    try:
        cmdline = Path(f"/proc/{state['pids']['anvil']}/cmdline").read_bytes().split(b"\0")
        assert b"--max-persisted-states" in cmdline, "no old states written to disk"
        w3 = Web3(Web3.HTTPProvider(state["rpc_url"]))
        assert w3.provider.make_request("anvil_getAutomine", [])["result"] is False
        sender, receiver = w3.eth.accounts[0], w3.eth.accounts[1]
        hashes = [w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1}) for _ in range(5)]
        blocks = [w3.eth.wait_for_transaction_receipt(h, timeout=10)["blockNumber"] for h in hashes]
        assert max(blocks.count(b) for b in blocks) >= 3, "sent within a block time, most share a block"
    finally:
        devnet.down(runtime)


def test_devnet_up_request_wait_result_down(local_devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state, addresses, runtime = local_devnet
    deployment = load_deployment(addresses)
    w3 = Web3(Web3.HTTPProvider(state["rpc_url"]))
    assert w3.eth.get_code(deployment.coordinator) and w3.eth.get_code(deployment.consumer)
    assert deployment.models[1].kind == "toy" and state["broker_url"].startswith("mqtt://")
    with pytest.raises(devnet.DevnetError, match="already up"):
        devnet.up(runtime_dir=runtime, addresses=addresses)

    config = write_config(tmp_path / "s.toml", private_key=DEV_PRIVATE_KEYS[2], rpc_url=state["rpc_url"],
                          deployment=str(addresses), poll_interval_s=0.2, cache_dir=str(tmp_path / "cache"),
                          log_format="json", broker_url=state["broker_url"])
    submitter = DaemonProcess("submitter", config, tmp_path / "s.log").start()
    try:
        common = ("--rpc-url", state["rpc_url"], "--deployment", str(addresses))
        asked = subprocess.Popen([sys.executable, "-m", "opml.cli", "request", "--model", "1", "--input",
                                  '{"x": [1, 2]}', "--wait", "--timeout", "60", *common],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        submitter.wait_for("result_submitted")
        w3.provider.make_request("evm_increaseTime", [devnet.DevnetParams().challenge_window + 1])
        w3.provider.make_request("evm_mine", [])
        out, err = asked.communicate(timeout=90)
        assert asked.returncode == 0, err
        first, final = (json.loads(line) for line in out.strip().splitlines())
        assert final["status"] == "finalized" and final["request_id"] == first["request_id"]
        shown = opml("result", str(first["request_id"]), *common)
        assert shown.returncode == 0, shown.stderr
        result = json.loads(shown.stdout)
        assert result["status"] == "finalized" and result["output"] == final["output"]
        missing = opml("result", "99", *common)
        assert missing.returncode == 2 and "no request 99" in missing.stderr
    finally:
        submitter.stop()

    requester = Requester.connect(state["rpc_url"], DEV_PRIVATE_KEYS[1], addresses)
    request_id = requester.request(1, b'{"x":[1,2]}')
    assert requester.result(request_id).status == "open"
    with pytest.raises(RequestError, match="not final"):
        requester.wait_final(request_id, timeout_s=0.3, poll_s=0.1)

    pids = dict(state["pids"])
    assert sorted(devnet.down(runtime)) == sorted(pids)
    with pytest.raises(devnet.DevnetError, match="no devnet is up"):
        devnet.down(runtime)


def test_request_input_parsing(tmp_path: Path) -> None:
    from opml.node.cli import parse_input

    (tmp_path / "in.bin").write_bytes(b"\x00\x01raw")
    assert parse_input(str(tmp_path / "in.bin")) == b"\x00\x01raw"
    assert parse_input('"hello"') == b"hello"
    assert parse_input('{"x": [1, 2]}') == b'{"x":[1,2]}'
    with pytest.raises(ValueError, match="neither a file nor JSON"):
        parse_input("not json")
    with pytest.raises(ValueError, match="--index needs an array input"):
        parse_input('"hello"', index=1)


def test_request_input_from_arrays(tmp_path: Path) -> None:
    from opml.node.cli import parse_input

    tensor = np.arange(-6, 6, dtype=np.int8).reshape(2, 3, 2)
    np.save(tmp_path / "t.npy", tensor)
    np.savez(tmp_path / "d.npz", q=tensor, pixels=np.array([[0, 255], [128, 7]], dtype=np.uint8))
    assert parse_input(str(tmp_path / "t.npy")) == tensor.tobytes()
    assert parse_input(str(tmp_path / "t.npy"), index=1) == tensor[1].tobytes()
    assert parse_input(f"{tmp_path}/d.npz:q", index=-1) == tensor[-1].tobytes()
    halved = parse_input(f"{tmp_path}/d.npz:pixels", index=0, quantize=lambda a: (a // 2).astype(np.int8))
    assert halved == np.array([0, 127], dtype=np.int8).tobytes()  # non-int8 values go through the quantizer
    with pytest.raises(ValueError, match="holds uint8 values, not int8"):
        parse_input(f"{tmp_path}/d.npz:pixels", index=0)
    with pytest.raises(ValueError, match="has no array 'x'"):
        parse_input(f"{tmp_path}/d.npz:x")
    with pytest.raises(ValueError, match="--index 2 is outside"):
        parse_input(str(tmp_path / "t.npy"), index=2)


def test_devnet_deploy_with_the_mnist_cnn_answers_a_real_digit(anvil: Anvil, contracts_built: None,
                                                              tmp_path: Path) -> None:
    from opml.ml import executor
    from opml.ml.accuracy import as_float_input
    from opml.ml.scales import QuantizedModel

    addresses = tmp_path / "cnn.json"
    deployed = opml("devnet", "deploy", "--rpc-url", anvil.url, "--addresses", str(addresses),
                    "--model", "models/mnist_cnn.opml")
    assert deployed.returncode == 0, deployed.stderr
    deployment = load_deployment(addresses)
    (model_id,) = deployment.models
    assert deployment.models[model_id].model_dump() == {"kind": "ml", "model_file": "models/mnist_cnn.opml"}
    assert json.loads(deployed.stdout)["models"] == {str(model_id): deployment.models[model_id].model_dump()}

    config = write_config(tmp_path / "s.toml", private_key=DEV_PRIVATE_KEYS[2], rpc_url=anvil.url,
                          deployment=str(addresses), poll_interval_s=0.2, cache_dir=str(tmp_path / "cache"),
                          log_format="json", embedded_broker=False)
    submitter = DaemonProcess("submitter", config, tmp_path / "s.log").start()
    try:
        common = ("--rpc-url", anvil.url, "--deployment", str(addresses))
        asked = subprocess.Popen([sys.executable, "-m", "opml.cli", "request", "--model", str(model_id), "--input",
                                  "models/mnist_data.npz:test_x", "--index", "11", "--wait", "--timeout", "90",
                                  *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        submitter.wait_for("result_submitted", timeout=60)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        w3.provider.make_request("evm_increaseTime", [devnet.DevnetParams().challenge_window + 1])
        w3.provider.make_request("evm_mine", [])
        out, err = asked.communicate(timeout=120)
        assert asked.returncode == 0, err
    finally:
        submitter.stop()
    final = json.loads(out.strip().splitlines()[-1])
    assert final["status"] == "finalized"
    quantized = QuantizedModel.load(REPO_ROOT / "models" / "mnist_cnn.opml")
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        image, label = data["test_x"][11], int(data["test_y"][11])
    native = executor.run(quantized.model, quantized.quantize_input(as_float_input(image))).result[0]
    assert bytes.fromhex(final["output"][2:]) == np.ascontiguousarray(native).tobytes()
    logits = np.frombuffer(bytes.fromhex(final["output"][2:]), np.int8)
    assert int(np.argmax(logits)) == label  # the CNN reads this digit right

    registered = opml("register-model", "models/mnist_mlp.opml", "--fee", "12345", *common)
    assert registered.returncode == 0, registered.stderr
    answer = json.loads(registered.stdout)
    assert answer["model_id"] == model_id + 1 and answer["model_file"] == "models/mnist_mlp.opml"
    from opml.node.registration import commit_model

    roots = ModelRegistryContract(w3, deployment.registry).model_roots(answer["model_id"])
    assert roots == commit_model(REPO_ROOT / "models" / "mnist_mlp.opml").roots
    assert answer["roots"] == ["0x" + r.hex() for r in roots]
    assert load_deployment(addresses).models[answer["model_id"]].param("model_file") == "models/mnist_mlp.opml"
    missing = opml("register-model", "models/nope.opml", *common)
    assert missing.returncode == 2 and "model file models/nope.opml does not exist" in missing.stderr


def test_docker_compose_file_is_valid() -> None:
    assert shutil.which("docker-compose"), "docker-compose is not installed: run `make sysdeps` (Debian package)"
    checked = subprocess.run(["docker-compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "-q"],
                             capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert checked.returncode == 0, checked.stderr
