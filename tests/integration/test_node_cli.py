"""The operator- and dapp-facing commands as real processes: `opml devnet up/down` brings up Anvil, a broker and
a deployment; `opml request … --wait` and `opml result` go through the SDK against live daemons; the
docker-compose file is valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, free_port
from opml.chain.build import REPO_ROOT
from opml.node import devnet
from opml.node.deployment import load_deployment
from opml.node.sdk import Requester, RequestError
from opml.node.testing import DaemonProcess, write_config


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


def test_docker_compose_file_is_valid() -> None:
    assert shutil.which("docker-compose"), "docker-compose is not installed: run `make sysdeps` (Debian package)"
    checked = subprocess.run(["docker-compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "-q"],
                             capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert checked.returncode == 0, checked.stderr
