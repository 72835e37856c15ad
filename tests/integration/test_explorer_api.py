"""The explorer's JSON API on bad input (malformed ids → 400, unknown ids and routes → 404, each a JSON error) and
its survival of a chain restart: the node goes away (the explorer says so and keeps serving what it had), comes
back as a new chain with a new deployment at the same URL, and the explorer re-indexes it from the start block —
the old chain's requests are gone, the new ones shown.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_explorer import ExplorerProcess

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.bindings import CoordinatorContract
from opml.chain.build import ensure_built
from opml.chain.tx import TxSender
from opml.node.devnet import deploy_devnet

FEE = 10**16  # the toy devnet model's fee


def _deploy(node: Anvil, path: Path) -> CoordinatorContract:
    w3 = node.web3()
    deployment = deploy_devnet(w3)
    deployment.save(path)
    return CoordinatorContract(w3, deployment.coordinator)


def _ask(node: Anvil, coordinator: CoordinatorContract, text: str) -> int:
    sender = TxSender(node.web3(), DEV_PRIVATE_KEYS[1])
    mined = sender.send(coordinator.request(1, text.encode()), value=FEE)
    return int(coordinator.events("RequestCreated", mined.receipt)[0]["requestId"])


@pytest.fixture
def chain(tmp_path: Path):  # noqa: ANN201
    ensure_built()
    with Anvil() as node:
        yield node


BAD = [
    ("/api/requests/abc", 400, "malformed request id"),
    ("/api/requests/0", 400, "malformed request id"),
    ("/api/requests/-1", 400, "malformed request id"),
    ("/api/requests/1.5", 400, "malformed request id"),
    ("/api/requests/" + "9" * 79, 400, "malformed request id"),
    ("/api/requests/7", 404, "unknown request 7"),
    ("/api/requests/7/input.png", 404, "unknown request 7"),
    ("/api/requests/1/input.png", 404, "not an image"),
    ("/api/games/x1", 400, "malformed game id"),
    ("/api/games/%E2%91%A0", 400, "malformed game id"),  # a Unicode digit is no decimal id
    ("/api/games/1", 404, "unknown game 1"),
    ("/api/games/1/picture.svg", 404, "unknown game 1"),
    ("/api/nothing/here", 404, "no API route"),
]


def test_bad_input_answers_json_errors(chain: Anvil, tmp_path: Path) -> None:
    coordinator = _deploy(chain, tmp_path / "deployment.json")
    request_id = _ask(chain, coordinator, "hello explorer")
    with ExplorerProcess(chain.url, tmp_path / "deployment.json", tmp_path) as explorer:
        explorer.wait_until(lambda: explorer.get("/api/requests")[1]["requests"], 30, "the request indexed")
        status, body = explorer.get(f"/api/requests/{request_id}")
        assert status == 200 and body["input"] == {"kind": "text", "text": "hello explorer", "bytes": 14}
        for path, code, message in BAD:
            status, body = explorer.get(path)
            assert status == code, f"{path}: HTTP {status}, expected {code}: {body}"
            assert isinstance(body, dict) and message in body["error"], f"{path}: {body}"
        assert explorer.process is not None and explorer.process.poll() is None


def test_explorer_survives_a_chain_restart(chain: Anvil, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    coordinator = _deploy(chain, deployment)
    _ask(chain, coordinator, "before the restart")
    with ExplorerProcess(chain.url, deployment, tmp_path) as explorer:
        def inputs() -> list[str]:
            status, body = explorer.get("/api/requests")
            return [r["input"].get("text") for r in body["requests"]] if status == 200 else []

        explorer.wait_until(lambda: inputs() == ["before the restart"], 30, "the first chain's request")
        chain.stop()
        explorer.wait_until(lambda: explorer.get("/api/status")[1]["connected"] is False, 30, "disconnected")
        assert inputs() == ["before the restart"]  # what it knew is still served while the node is away
        chain.restart()
        coordinator = _deploy(chain, deployment)
        for text in ("after the restart", "and another"):
            _ask(chain, coordinator, text)
        explorer.wait_until(lambda: inputs() == ["and another", "after the restart"], 30, "the new chain's requests")
        status = explorer.get("/api/status")[1]
        assert status["connected"] is True and status["reindexed"] == 1, status
        assert explorer.events("explorer_reindex") and explorer.events("explorer_rpc_down")


def test_bad_command_line_is_one_line_and_exit_2() -> None:
    for args, message in ((["--broker", "http://x:1"], "--broker must be an MQTT URL"),
                          (["--port", "70000"], "--port must be in 1..65535")):
        done = subprocess.run([sys.executable, "-m", "opml.cli", "explorer", *args], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
        assert done.stderr.startswith("opml explorer: ") and message in done.stderr
