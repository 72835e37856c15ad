"""The node on the devnet: request throughput through one submitter daemon, and one run of the demo.

Figures:
- `node_requests_per_s`: `REQUESTS` MNIST CNN requests (real test digits) posted at once on a fresh Anvil with the
  ML stack and a `WINDOW_S` challenge window, answered and finalized by one submitter daemon (its own process,
  polling every 0.2 s); requests / seconds from the first request to the last `Finalized`. The chain clock moves
  with the wall clock (a block is mined every 0.25 s so the window can pass without other traffic).
- `node_request_latency_s`: the mean time from a request's transaction to its `Finalized` event (includes the
  window).
- `demo_wall_s`: one `opml demo` run (devnet, three daemons, the dispute, finalization, cleanup), in process.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.build import ensure_built
from opml.demos.network import DaemonDemo, DemoOptions, demo_succeeded
from opml.levels.commitments import ModelCommitment
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.node.deployment import Deployment, ModelSpec
from opml.node.monitor import Monitor
from opml.node.process import DaemonProcess, write_config
from opml.node.sdk import Requester
from opml.paths import REPO_ROOT
from opml.stacks.ml import MlStackConfig, deploy_ml_stack

MODEL_FILE = "models/mnist_cnn.opml"
REQUESTS = 20
WINDOW_S = 2
TIMEOUT_S = 180.0


def run() -> dict[str, float | int]:
    ensure_built()
    throughput = requests_per_second()
    demo = DaemonDemo(DemoOptions(), out=io.StringIO()).run()
    if not demo_succeeded(demo):
        raise RuntimeError(f"the demo did not reach its outcome: {demo}")
    return {**throughput, "demo_wall_s": demo["wall_s"]}


def requests_per_second() -> dict[str, float | int]:
    with Anvil() as anvil, tempfile.TemporaryDirectory(prefix="opml-bench-node-") as tmp:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        deployment, model = _deploy(w3, Path(tmp))
        config = write_config(Path(tmp) / "submitter.toml", node_name="bench", rpc_url=anvil.url,
                              private_key=DEV_PRIVATE_KEYS[2], deployment=str(Path(tmp) / "bench.json"),
                              poll_interval_s=0.2, log_format="json", model_dir=str(REPO_ROOT),
                              cache_dir=str(Path(tmp) / "cache"), embedded_broker=False)
        daemon = DaemonProcess("submitter", config, Path(tmp) / "submitter.log").start()
        try:
            daemon.wait_for("daemon_started", timeout=60)
            return _measure(w3, deployment, model, daemon)
        finally:
            daemon.stop()


def _deploy(w3: Web3, workdir: Path) -> tuple[Deployment, QuantizedModel]:
    start = w3.eth.block_number + 1
    quantized = QuantizedModel.load(REPO_ROOT / MODEL_FILE)
    stack = deploy_ml_stack(w3, MlStackConfig(challenge_window=WINDOW_S))
    model_id = stack.register(ModelCommitment(quantized.model, plan_model(quantized.model)))
    deployment = Deployment(network="bench", chain_id=w3.eth.chain_id, start_block=start,
                            coordinator=stack.bindings.coordinator.address, game=stack.bindings.game.address,
                            registry=stack.registry.address, models={model_id: ModelSpec(kind="ml",
                                                                                         model_file=MODEL_FILE)})
    deployment.save(workdir / "bench.json")
    return deployment, quantized


def _measure(w3: Web3, deployment: Deployment, model: QuantizedModel, daemon: DaemonProcess) -> dict:
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digits = [model.quantize_input(as_float_input(data["test_x"][i * 97])).tobytes() for i in range(REQUESTS)]
    requester = Requester(w3, DEV_PRIVATE_KEYS[1], deployment)
    (model_id,) = deployment.models
    monitor = Monitor(w3, [requester.coordinator.contract], w3.eth.block_number + 1)
    started = time.perf_counter()
    asked = {requester.request(model_id, digit): time.perf_counter() for digit in digits}
    finalized: dict[int, float] = {}
    while len(finalized) < REQUESTS:
        if time.perf_counter() - started > TIMEOUT_S:
            raise RuntimeError(f"{len(finalized)}/{REQUESTS} requests finalized in {TIMEOUT_S} s:\n{daemon.tail()}")
        if not daemon.alive:
            raise RuntimeError(f"the submitter daemon died:\n{daemon.tail()}")
        w3.provider.make_request("evm_mine", [])  # the chain clock follows the wall clock
        for event in monitor.poll()[1]:
            if event.name == "Finalized":
                finalized.setdefault(event.args["requestId"], time.perf_counter())
        time.sleep(0.25)
    elapsed = max(finalized.values()) - started
    latency = sum(finalized[r] - t for r, t in asked.items()) / REQUESTS
    return {"node_requests_per_s": round(REQUESTS / elapsed, 3), "node_request_latency_s": round(latency, 3),
            "node_requests": REQUESTS, "node_window_s": WINDOW_S}
