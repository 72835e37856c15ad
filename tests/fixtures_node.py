"""The node network in tests: a devnet deployment plus daemons as real processes (`NodeNet`, `MlNet` for the ML
stack), the one `net` fixture that starts one per test and stops its daemons after it, `ask` (the requester's
request), restart helpers that kill a daemon at chosen points of its progress, and a talker/listener pair on the
MQTT bus.

    @pytest.mark.net(kind=MlNet)           # default: NodeNet over the toy stack; net(params=DevnetParams(...))
    def test_x(net: MlNet) -> None:
        request_id = ask(net, b"input")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.bindings import CoordinatorContract
from opml.chain.build import load_artifact
from opml.node.bus import Bus
from opml.node.devnet import DevnetParams, deploy_devnet, deploy_ml_devnet
from opml.node.llm_requests import load_llm
from opml.node.process import DaemonProcess, write_config
from opml.node.registration import load_quantized
from opml.node.sdk import Requester
from opml.paths import REPO_ROOT


@pytest.fixture
def net(request: pytest.FixtureRequest, anvil: Anvil, w3: Web3, contracts_built: None,
        tmp_path: Path) -> Iterator["NodeNet"]:
    """A NodeNet on the session's chain, its daemons stopped after the test. `@pytest.mark.net(kind=MlNet, **kw)`
    picks the kind (default NodeNet) and its extra constructor arguments."""
    marker = request.node.get_closest_marker("net")
    settings = dict(marker.kwargs) if marker else {}
    network = settings.pop("kind", NodeNet)(w3, anvil.url, tmp_path, **settings)
    try:
        yield network
    finally:
        network.stop_all()


class NodeNet:
    """A fresh devnet deployment on a running chain plus daemons on it, for one test.

    Accounts are Anvil's dev keys: 1 requester, 2 submitter, 3 challenger (as in `config/*.toml`). Requests go to
    `model_id`."""

    model_id = 1

    def __init__(self, w3: Any, rpc_url: str, workdir: Path, params: Any = None, models: Sequence[Path] = ()) -> None:
        self.w3 = w3
        self.rpc_url = rpc_url
        self.workdir = workdir
        self.keys = {"requester": DEV_PRIVATE_KEYS[1], "submitter": DEV_PRIVATE_KEYS[2],
                     "challenger": DEV_PRIVATE_KEYS[3]}
        self.deployment = deploy_devnet(w3, params or DevnetParams(), models=models)
        self.addresses = workdir / "local.json"
        self.deployment.save(self.addresses)
        self.daemons: list[DaemonProcess] = []

    def daemon(self, role: str, name: str | None = None, **settings: Any) -> DaemonProcess:
        """Write a config for `role` (key of the same name unless `private_key` is given) and start it. No bus
        unless `broker_url` (or `embedded_broker = True`) is given: tests stay isolated from each other."""
        name = name or role
        values = {
            "node_name": name, "rpc_url": self.rpc_url, "private_key": self.keys.get(role),
            "deployment": str(self.addresses), "poll_interval_s": 0.2, "cache_dir": str(self.workdir / f"cache-{name}"),
            "log_format": "json", "embedded_broker": False, **settings,
        }
        config = write_config(self.workdir / f"{name}.toml", **values)
        process = DaemonProcess(role, config, self.workdir / f"{name}.log").start()
        self.daemons.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.daemons:
            process.stop()

    @contextlib.contextmanager
    def manual_mining(self) -> Iterator[None]:
        """Inside the block, transactions wait in the pool until an explicit `evm_mine`; automine is back on after
        it, whatever happens (the chain is shared by the session's tests)."""
        self.w3.provider.make_request("evm_setAutomine", [False])
        try:
            yield
        finally:
            self.w3.provider.make_request("evm_setAutomine", [True])

    def warp(self, seconds: int) -> None:
        """Advance chain time and mine a block."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])


class MlNet(NodeNet):
    """NodeNet over the ML stack (`devnet.deploy_ml_devnet`) with one model file registered (kind "ml"):
    `model_id`, its `fee`, the `quantized` model and the `coordinator` binding."""

    def __init__(self, w3: Any, rpc_url: str, workdir: Path, model: str = "models/mnist_mlp.opml",
                 challenge_window: int = 600) -> None:
        self.w3, self.rpc_url, self.workdir, self.daemons = w3, rpc_url, workdir, []
        self.keys = {"requester": DEV_PRIVATE_KEYS[1], "submitter": DEV_PRIVATE_KEYS[2],
                     "challenger": DEV_PRIVATE_KEYS[3]}
        self.model_file = REPO_ROOT / model
        self.deployment = deploy_ml_devnet(w3, [self.model_file], DevnetParams(challenge_window=challenge_window),
                                           network="ml-test")
        self.addresses = workdir / "ml.json"
        self.deployment.save(self.addresses)
        (self.model_id,) = self.deployment.models
        self.quantized = load_quantized(self.model_file)
        self.coordinator = CoordinatorContract(w3, self.deployment.coordinator)
        self.fee = model_fee(self)

    def request(self, data: bytes) -> int:
        """The requester asks the model directly (no callback); returns the request id."""
        return ask(self, data)


def model_fee(net: NodeNet) -> int:
    """The fee `net.model_id` is registered with (wei)."""
    registry = net.w3.eth.contract(address=net.deployment.registry, abi=load_artifact("ModelRegistry").abi)
    return int(registry.functions.modelRoots(net.model_id).call()[3])


def ask(net: NodeNet, data: bytes, through_consumer: bool = False) -> int:
    """The requester asks `net.model_id`, paying its registered fee, directly or through the devnet's
    ExampleConsumer (so the final output is called back); returns the request id."""
    requester = Account.from_key(net.keys["requester"]).address
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    fee = model_fee(net)
    if through_consumer:
        consumer = net.w3.eth.contract(address=net.deployment.consumer, abi=load_artifact("ExampleConsumer").abi)
        call = consumer.functions.ask(data)
    else:
        call = coordinator.request(net.model_id, data)
    receipt = net.w3.eth.wait_for_transaction_receipt(call.transact({"from": requester, "value": fee}))
    return int(coordinator.events("RequestCreated", receipt)[0]["requestId"])


# -- restarts ------------------------------------------------------------------------------------------------
def progress(net: NodeNet, who: str) -> int:
    """Transactions `who` has had mined so far (its nonce): exact, whatever a killed daemon managed to log."""
    return int(net.w3.eth.get_transaction_count(Account.from_key(net.keys[who]).address))


def kill_and_restart_at(net: NodeNet, daemon: DaemonProcess, who: str, points: list[int], rng: Any,
                        context: str = "", timeout: float = 60) -> list[int]:
    """SIGKILL `daemon` once `who` has had each of `points` transactions mined (plus, at random, a short delay or
    a wait for a journaled but unconfirmed move, so some kills land mid-send; never twice at the same progress)
    and start it again at once; returns the progress seen at each kill. `context` prefixes failure messages
    (e.g. the random seed)."""
    seen: list[int] = []
    base = progress(net, who)  # the account may have sent transactions in earlier tests on this chain
    for point in points:
        target = max(point, seen[-1] + 1) if seen else point  # at least one new transaction between kills
        deadline = time.monotonic() + timeout
        while progress(net, who) - base < target:
            assert daemon.alive, f"{context}: daemon died:\n{daemon.tail()}"
            assert time.monotonic() < deadline, f"{context}: progress stuck below {target}:\n{daemon.tail()}"
            time.sleep(0.01)
        if rng.random() < 0.5:
            wait_for_pending_intent(net, daemon)  # kill between journaling a move and its receipt
        else:
            time.sleep(rng.uniform(0.0, 0.1))
        daemon.kill()
        seen.append(progress(net, who) - base)
        daemon.start()
    return seen


def wait_for_pending_intent(net: NodeNet, daemon: DaemonProcess, timeout: float = 5.0) -> bool:
    """Poll the daemon's journal until some intent is `pending` (written, transaction not yet confirmed)."""
    name = daemon.config.stem
    cache = net.workdir / f"cache-{name}"  # the journal is under the chain's directory: <chain>/intents/
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in cache.glob("*/intents/*.json"):
            try:
                if json.loads(path.read_text())["status"] == "pending":
                    return True
            except (OSError, ValueError, KeyError):
                continue
        time.sleep(0.001)
    return False


def receipts_from(net: NodeNet, who: str) -> list[Any]:
    """The receipts of every transaction `who` sent since the deployment."""
    sender = Account.from_key(net.keys[who]).address
    receipts = []
    for number in range(net.deployment.start_block, net.w3.eth.block_number + 1):
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                receipts.append(net.w3.eth.get_transaction_receipt(tx["hash"]))
    return receipts


def gas_paid(net: NodeNet, who: str) -> int:
    """Wei `who` paid for gas since the deployment."""
    return sum(int(r["gasUsed"]) * int(r["effectiveGasPrice"]) for r in receipts_from(net, who))


def assert_each_move_once(net: NodeNet, daemon: DaemonProcess, who: str, context: str = "") -> None:
    """No game state was answered twice, no transaction of `who` reverted, and nothing was refused at estimation
    (no stale move, and no race to the final step: only the party the step favours sends it)."""
    moves = Counter((e["game"], e["phase"], e["depth"], e["lo"], e["hi"]) for e in daemon.events("move_sent"))
    assert all(n == 1 for n in moves.values()), f"{context}: moves sent twice: {moves}"
    assert all(r["status"] == 1 for r in receipts_from(net, who)), f"{context}: a transaction of the {who} reverted"
    assert not daemon.events("move_reverted"), f"{context}: a move of the {who} reverted on chain"
    stale = daemon.events("move_rejected")
    assert not stale, f"{context}: the {who} tried a stale move: {stale}"


# -- the MQTT bus in tests ------------------------------------------------------------------------------------
async def wait_until(condition: Callable[[], bool], timeout_s: float = 4.0, poll_s: float = 0.02) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


@contextlib.asynccontextmanager
async def bus_pair(port: int, chain_id: int = 31337) -> AsyncIterator[tuple[Any, list[tuple[str, bytes]]]]:
    """A talker and a listener Bus on the broker at 127.0.0.1:`port`, both connected and the listener subscribed;
    yields (talker, messages the listener received as (topic, payload)). Both stop on exit."""
    received: list[tuple[str, bytes]] = []
    listener = Bus("127.0.0.1", port, chain_id, "listener", lambda topic, payload: received.append((topic, payload)))
    talker = Bus("127.0.0.1", port, chain_id, "talker")
    tasks = [asyncio.create_task(listener.run()), asyncio.create_task(talker.run())]
    try:
        await wait_until(lambda: listener.connected and talker.connected)
        await asyncio.sleep(0.1)  # the listener's subscription is acknowledged
        yield talker, received
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the LLM stack ----------------------------------------------------------------------------------------------
class LlmNet(NodeNet):
    """NodeNet over the LLM stack (`devnet.deploy_llm_devnet`) with the Moby-Dick llama registered (kind "llm") and a
    GenerationConsumer (`deployment.consumer`) asking it: `model_id`, its `fee`, the `llm` and the `coordinator`
    binding."""

    def __init__(self, w3: Any, rpc_url: str, workdir: Path, challenge_window: int = 600) -> None:
        self.model_file = REPO_ROOT / "models" / "llm" / "moby.opml"
        super().__init__(w3, rpc_url, workdir, DevnetParams(challenge_window=challenge_window), [self.model_file])
        (self.model_id,) = self.deployment.models
        self.llm = load_llm(self.model_file)
        self.coordinator = CoordinatorContract(w3, self.deployment.coordinator)
        self.requester = Requester(w3, self.keys["requester"], self.deployment)
        self.fee = self.requester.fee(self.model_id)

    def request(self, data: bytes) -> int:
        """The requester asks the model directly (no callback), paying its fee; returns the request id."""
        return self.requester.request(self.model_id, data)


# -- the `opml` command as a process ----------------------------------------------------------------------------
def opml(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`opml ARGS` as a process from the repository root; its completed process (text output)."""
    return subprocess.run([sys.executable, "-m", "opml.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})})


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """The command failed with exactly one line on stderr (no traceback) containing every needle."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def nothing_sent(w3: Web3, deployment: Any, requester: str = Account.from_key(DEV_PRIVATE_KEYS[1]).address
                 ) -> tuple[int, int]:
    """(the requester's nonce, the coordinator's request count): unchanged when a command sent nothing."""
    coordinator = w3.eth.contract(address=deployment.coordinator, abi=[{
        "type": "function", "name": "requestCount", "stateMutability": "view", "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}]}])
    return w3.eth.get_transaction_count(requester), int(coordinator.functions.requestCount().call())
