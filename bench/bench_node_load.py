"""The node under load, on the devnet with the MNIST CNN (real test digits) and a `WINDOW_S` challenge window; the
daemons are their own processes; a block is mined every `TICK_S` (automine off: a block holds every transaction
sent since the last one, as on a real chain) so the chain clock follows the wall clock. With automine Anvil
makes a block per transaction, and at 60 transactions/s its own CPU became the limit (90 s of it for a 1,200-
request burst, against 11 s with blocks every `TICK_S`).

Figures:
- `node_burst_sustained_rps`: `BURST_RATE` requests/s for `BURST_S` seconds into one submitter; requests finalized
  per second from the first request to the last `Finalized` (so it counts the time during and after the burst).
- `node_submit_p99_s`: 99th percentile of the time from a request's broadcast to its `ResultSubmitted` on chain,
  at `STEADY_RATE` requests/s for `STEADY_S` seconds (a fresh submitter).
- `node_rpc_calls_per_block`: JSON-RPC calls per mined block of an idle daemon (after the two runs above, with
  their requests in its history, over `IDLE_S` seconds at one block per second), counted by a proxy in front of
  Anvil; the larger of the submitter's and the challenger's (both are reported too).
- `node_restart_first_submit_s`: `BACKLOG` open requests whose claims a previous run cached (it could not pay, so
  it submitted none); the restarted, funded submitter's wall time from its process start to its first
  `result_submitted` log.
- `node_<phase>_loadavg`: the machine's 1-minute load average at the end of each phase (the machine may be
  shared: the figures above are only comparable at a similar load).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from web3 import Web3

from bench.bench_node import _deploy
from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.bindings import CoordinatorContract
from opml.chain.build import ensure_built
from opml.paths import REPO_ROOT
from opml.ml.accuracy import as_float_input
from opml.node.deployment import Deployment
from opml.node.monitor import Monitor
from opml.node.process import DaemonProcess, write_config

WINDOW_S = 2
TICK_S = 0.5
BURST_RATE, BURST_S = 30, 60  # at 20/s the figure could not pass ~19: the last request's window and block follow the burst
STEADY_RATE, STEADY_S = 10, 30
BACKLOG = 2_000
IDLE_S = 15
DRAIN_TIMEOUT_S = 300.0
BACKLOG_TIMEOUT_S = 1200.0  # the unfunded first run computes every claim and checks its VM budget


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run() -> dict[str, float | int]:
    ensure_built()
    with Anvil(extra_args=("--gas-limit", "100000000")) as anvil, \
            tempfile.TemporaryDirectory(prefix="opml-bench-load-") as tmp:
        bench = LoadBench(anvil, Path(tmp))
        try:
            figures = bench.burst()
            figures.update(bench.steady())
            figures.update(bench.idle_rpc())
            figures.update(bench.restart())
        finally:
            bench.close()
    return figures


class LoadBench:
    def __init__(self, anvil: Anvil, workdir: Path) -> None:
        self.anvil = anvil
        self.workdir = workdir
        self.w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        self.deployment, self.model = _deploy(self.w3, workdir)
        self.addresses = workdir / "bench.json"
        with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
            self.digits = [self.model.quantize_input(as_float_input(x)).tobytes() for x in data["test_x"][:3000]]
        self.requester = Account.from_key(DEV_PRIVATE_KEYS[1])
        self.nonce = self.w3.eth.get_transaction_count(self.requester.address)
        self.coordinator = CoordinatorContract(self.w3, self.deployment.coordinator)
        self.fee = int(self.w3.eth.contract(address=self.deployment.registry, abi=_REGISTRY_FEE_ABI)
                       .functions.modelRoots(1).call()[3])
        self.daemons: list[DaemonProcess] = []
        self.w3.provider.make_request("evm_setAutomine", [False])  # blocks come from the ticker only
        self._ticking = False
        self._ticker: threading.Thread | None = None
        self.start_ticking()

    # -- the figures ----------------------------------------------------------------------------------------
    def burst(self) -> dict[str, float | int]:
        self.daemon("submitter", "burst", DEV_PRIVATE_KEYS[2], requests=self.next_ids(int(BURST_RATE * BURST_S)))
        watch = Watch(self.w3, self.deployment)
        sent = self.send_at(BURST_RATE, BURST_S, watch)
        first = min(sent.values())
        watch.until(lambda: all(r in watch.finalized for r in sent), DRAIN_TIMEOUT_S)
        done = [watch.finalized[r] for r in sent if r in watch.finalized]
        watch.close()
        self.stop_daemons()
        return {"node_burst_sustained_rps": round(len(done) / (max(done) - first), 2) if done else 0.0,
                "node_burst_requests": len(sent), "node_burst_finalized": len(done),
                "node_burst_offered_rps": round(len(sent) / (max(sent.values()) - first), 2),
                "node_burst_window_s": WINDOW_S, "node_burst_loadavg": _load()}

    def steady(self) -> dict[str, float | int]:
        self.daemon("submitter", "steady", DEV_PRIVATE_KEYS[4], requests=self.next_ids(int(STEADY_RATE * STEADY_S)))
        watch = Watch(self.w3, self.deployment)
        sent = self.send_at(STEADY_RATE, STEADY_S, watch)
        watch.until(lambda: all(r in watch.submitted for r in sent), DRAIN_TIMEOUT_S)
        latencies = sorted(watch.submitted[r] - t for r, t in sent.items() if r in watch.submitted)
        watch.close()
        self.stop_daemons()
        if len(latencies) < len(sent):  # unanswered requests count as never answered: no percentile to report
            return {"node_submit_p99_s": None, "node_submit_requests": len(sent),
                    "node_submit_answered": len(latencies), "node_submit_loadavg": _load()}
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        return {"node_submit_p99_s": round(p99, 3), "node_submit_p50_s": round(statistics.median(latencies), 3),
                "node_submit_requests": len(sent), "node_submit_answered": len(latencies),
                "node_submit_loadavg": _load()}

    def restart(self) -> dict[str, float | int]:
        broke = Account.create()
        watch = Watch(self.w3, self.deployment)
        backlog = self.next_ids(BACKLOG)
        self.send_all(BACKLOG, watch)
        first = self.daemon("submitter", "restart", broke.key.hex(), requests=backlog)
        first.wait_for("claim_computed", count=BACKLOG, timeout=BACKLOG_TIMEOUT_S)
        first.kill()
        self.w3.provider.make_request("anvil_setBalance", [broke.address, hex(10**24)])
        started = time.perf_counter()
        first.start()
        first.wait_for("result_submitted", timeout=120)
        elapsed = time.perf_counter() - started
        recomputed = len(first.events("claim_computed")) - BACKLOG
        watch.close()
        self.stop_daemons()
        return {"node_restart_first_submit_s": round(elapsed, 3), "node_restart_backlog": BACKLOG,
                "node_restart_reinferences": recomputed, "node_restart_loadavg": _load()}

    def idle_rpc(self) -> dict[str, float | int]:
        self._ticking = False
        counts = {}
        for role, key in (("submitter", DEV_PRIVATE_KEYS[2]), ("challenger", DEV_PRIVATE_KEYS[3])):
            with CountingProxy(self.anvil.url) as proxy:
                # no new request to answer (`requests = [0]`): idle, even when an earlier phase left some open
                daemon = self.daemon(role, f"idle-{role}", key, rpc_url=proxy.url, poll_interval_s=1.0,
                                     requests=[0] if role == "submitter" else None)
                daemon.wait_for("daemon_started", timeout=60)
                time.sleep(10)  # the start-up replay of every past request is over
                before, head = proxy.total, self.w3.eth.block_number
                for _ in range(IDLE_S):
                    self.w3.provider.make_request("evm_mine", [])
                    time.sleep(1.0)
                blocks = self.w3.eth.block_number - head
                counts[role] = round((proxy.total - before) / blocks, 2)
                self.stop_daemons()
        self.start_ticking()  # the next phase's transactions are mined by the ticker again
        return {"node_rpc_calls_per_block": max(counts.values()),
                "node_rpc_calls_per_block_submitter": counts["submitter"],
                "node_rpc_calls_per_block_challenger": counts["challenger"], "node_idle_loadavg": _load()}

    # -- helpers --------------------------------------------------------------------------------------------
    def daemon(self, role: str, name: str, key: str, **settings: Any) -> DaemonProcess:
        values = {"node_name": name, "rpc_url": self.anvil.url, "private_key": key,
                  "deployment": str(self.addresses), "poll_interval_s": 0.2, "log_format": "json",
                  "model_dir": str(REPO_ROOT), "cache_dir": str(self.workdir / f"cache-{name}"),
                  "embedded_broker": False, **settings}
        config = write_config(self.workdir / f"{name}.toml", **values)
        process = DaemonProcess(role, config, self.workdir / f"{name}.log").start()
        self.daemons.append(process)
        process.wait_for("daemon_started", timeout=120)
        return process

    def next_ids(self, count: int) -> list[int]:
        """The ids the next `count` requests will get: each phase's submitter answers its own requests only, so
        what an earlier phase left open (on a loaded machine) does not count in the next one's figures."""
        first = self.coordinator.contract.functions.requestCount().call() + 1
        return list(range(first, first + count))

    def stop_daemons(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        self.daemons.clear()

    def _signed(self, count: int) -> list[bytes]:
        txs = []
        for i in range(count):
            digit = self.digits[(self.nonce + i) % len(self.digits)]
            data = self.coordinator.request(1, digit)._encode_transaction_data()
            tx = {"to": self.deployment.coordinator, "data": data, "value": self.fee, "gas": 400_000,
                  "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9, "nonce": self.nonce + i,
                  "chainId": self.deployment.chain_id}
            txs.append(bytes(self.requester.sign_transaction(tx).raw_transaction))
        self.nonce += count
        return txs

    def send_at(self, rate: float, seconds: float, watch: Watch) -> dict[int, float]:
        """Broadcast `rate` requests a second for `seconds`; request id → broadcast time."""
        txs = self._signed(int(rate * seconds))
        first_id = self.coordinator.contract.functions.requestCount().call() + 1
        sent: dict[int, float] = {}
        start = time.perf_counter()
        for i, raw in enumerate(txs):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[first_id + i] = time.perf_counter()
            self.w3.eth.send_raw_transaction(raw)
        return sent

    def send_all(self, count: int, watch: Watch) -> None:
        for raw in self._signed(count):
            self.w3.eth.send_raw_transaction(raw)
        # Anvil's automine can leave a flood of transactions in its pool: mine blocks (~400 requests each)
        deadline = time.monotonic() + 120
        while self.w3.eth.get_transaction_count(self.requester.address) < self.nonce and time.monotonic() < deadline:
            self.w3.provider.make_request("evm_mine", [])

    def start_ticking(self) -> None:
        """Mine a block every `TICK_S` (the chain clock follows the wall clock) until `_ticking` is cleared."""
        if self._ticker is not None:
            self._ticker.join()
        self._ticking = True
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while self._ticking:
            try:
                self.w3.provider.make_request("evm_mine", [])
            except Exception:  # the chain is going away at the end
                return
            time.sleep(TICK_S)

    def close(self) -> None:
        self._ticking = False
        self.stop_daemons()


class Watch:
    """Follows the coordinator's logs in a thread: wall time of each request's first `ResultSubmitted` and of its
    `Finalized`."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        coordinator = CoordinatorContract(w3, deployment.coordinator)
        self.monitor = Monitor(w3, [coordinator.contract], w3.eth.block_number + 1)
        self.submitted: dict[int, float] = {}
        self.finalized: dict[int, float] = {}
        self._running = True
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        while self._running:
            try:
                events = self.monitor.poll().events
            except Exception:  # a busy chain answers late: try again
                time.sleep(0.1)
                continue
            now = time.perf_counter()
            for event in events:
                if event.name == "ResultSubmitted":
                    self.submitted.setdefault(event.args["requestId"], now)
                elif event.name == "Finalized":
                    self.finalized.setdefault(event.args["requestId"], now)
            time.sleep(0.1)

    def until(self, condition: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        self._running = False


class CountingProxy:
    """A JSON-RPC proxy in front of `upstream` that counts the calls going through it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.methods: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                    for call in payload if isinstance(payload, list) else [payload]:
                        proxy.methods[call.get("method", "?")] += 1
                except ValueError:
                    pass
                request = urllib.request.Request(proxy.upstream, data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as reply:
                    answer = reply.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total(self) -> int:
        return sum(self.methods.values())

    def __enter__(self) -> CountingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_REGISTRY_FEE_ABI = [{"type": "function", "name": "modelRoots", "stateMutability": "view",
                      "inputs": [{"name": "modelId", "type": "uint256"}],
                      "outputs": [{"name": "", "type": "bytes32"}, {"name": "", "type": "bytes32"},
                                  {"name": "", "type": "bytes32"}, {"name": "", "type": "uint256"}]}]
