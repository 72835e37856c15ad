"""The local devnet: Anvil and a broker started by the project itself, the contracts built and deployed, and an
ExampleConsumer deployed; addresses in `deploy/local.json`. Without `--model` the toy levels and a toy model are
deployed; with `--model PATH.opml` (repeatable) the ML stack (request → graph → tile → VM levels) with each model
file registered (kind "ml"), the consumer asking the first; with LLM files (`opml.llm.llmfile`) instead, the LLM
stack (request → token → graph → tile → VM) with each registered (kind "llm") and a
GenerationConsumer asking the first. One deployment file describes one stack.

    opml devnet up      # Anvil on 127.0.0.1:8545, mosquitto on 1883 (when installed), deploy/local.json
    opml devnet up --model models/mnist_cnn.opml            # the MNIST CNN instead of the toy model
    opml devnet up --model models/llm/moby.opml             # the LLM stack with the Moby-Dick llama
    opml devnet down    # stops what `up` started (process ids in deploy/local/devnet.json) and removes what it wrote
    opml devnet deploy --rpc-url http://anvil:8545 --addresses /shared/local.json   # onto a running chain
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from web3 import Web3

from opml.chain.anvil import ANVIL_BINARY, CHAIN_ID, NO_DISK_STATES, AnvilError, rpc_call
from opml.chain.build import ensure_built
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.paths import REPO_ROOT
from opml.stacks.toy import ToyStackConfig, deploy_toy_stack

from .broker import BrokerError, Mosquitto
from .deployment import Deployment, ModelSpec
from .registration import ModelFileError, commit_model, load_quantized, model_file_name

log = structlog.get_logger(__name__)

DEPLOY_DIR = REPO_ROOT / "deploy"
RUNTIME_DIR = DEPLOY_DIR / "local"
CALLBACK_GAS = 200_000
LLM_CALLBACK_GAS = 250_000  # the GenerationConsumer stores the tokens: 32 of them are 128 bytes


class DevnetError(Exception):
    """The devnet could not be brought up or down."""


@dataclass(frozen=True)
class DevnetParams:
    """The devnet's game: three small toy levels (8, 4, 16 transitions), N = 3, short window, one-hour clocks."""

    level_lengths: tuple[int, ...] = (8, 4, 16)
    max_depths: tuple[int, ...] = (3, 2, 4)
    checkpoint_count: int = 3
    clock_seconds: int = 3_600
    challenge_window: int = 60


def deploy_devnet(w3: Web3, params: DevnetParams = DevnetParams(), network: str = "local",
                  models: Sequence[Path] = ()) -> Deployment:
    """Deploy the toy stack (or, given `models`, the ML stack with those model files, or the LLM stack when they
    are LLM files) and an ExampleConsumer (a GenerationConsumer for LLMs) from the node's first account; the
    returned deployment describes them (save it with `Deployment.save`)."""
    if models and _stack_kind(models) == "llm":
        return deploy_llm_devnet(w3, models, params, network)
    if models:
        return deploy_ml_devnet(w3, models, params, network)
    start_block = w3.eth.block_number + 1
    config = ToyStackConfig(level_lengths=params.level_lengths, max_depths=params.max_depths,
                            checkpoint_count=params.checkpoint_count, clock_seconds=params.clock_seconds,
                            challenge_window=params.challenge_window)
    stack = deploy_toy_stack(w3, config)
    coordinator = stack.bindings.coordinator.address
    consumer = deploy(w3, "ExampleConsumer", coordinator, stack.model_id, CALLBACK_GAS)
    registry = stack.bindings.coordinator.contract.functions.registry().call()
    return Deployment(
        network=network, chain_id=w3.eth.chain_id, start_block=start_block, coordinator=coordinator,
        game=stack.bindings.game.address, registry=registry, consumer=consumer.address,
        models={stack.model_id: ModelSpec(kind="toy", level_lengths=list(params.level_lengths))},
    )


def deploy_ml_devnet(w3: Web3, models: Sequence[Path], params: DevnetParams = DevnetParams(),
                     network: str = "local") -> Deployment:
    """The ML stack with every file of `models` registered (ids in order, from 1 on a fresh stack) and an
    ExampleConsumer asking the first; window and clocks from `params`. DevnetError for a model file that cannot be
    served (checked before anything is deployed)."""
    from opml.stacks.ml import MlStackConfig, deploy_ml_stack  # the ML stack is imported only when asked for

    commitments = [_commitment(path) for path in models]
    start_block = w3.eth.block_number + 1
    stack = deploy_ml_stack(w3, MlStackConfig(clock_seconds=params.clock_seconds,
                                              challenge_window=params.challenge_window))
    registered = [(stack.register(commitment), path) for path, commitment in zip(models, commitments)]
    return stack_deployment(w3, stack, start_block, network, registered, "ml", "ExampleConsumer", CALLBACK_GAS)


def stack_deployment(w3: Web3, stack: Any, start_block: int, network: str, registered: Sequence[tuple[int, Path]],
                     kind: str, consumer: str, *consumer_args: Any) -> Deployment:
    """The deployment of `stack` (deployed from `start_block` on) serving the `registered` (model id, file) as
    `kind` models, with a `consumer` contract deployed (constructor: the coordinator, the first model id,
    `consumer_args`) asking the first."""
    served = {}
    for model_id, path in registered:
        served[model_id] = ModelSpec(kind=kind, model_file=model_file_name(path))
        log.info("devnet_model_registered", model=model_id, model_file=str(path), kind=kind)
    coordinator = stack.bindings.coordinator.address
    deployed = deploy(w3, consumer, coordinator, min(served), *consumer_args)
    registry = stack.bindings.coordinator.contract.functions.registry().call()
    return Deployment(network=network, chain_id=w3.eth.chain_id, start_block=start_block, coordinator=coordinator,
                      game=stack.bindings.game.address, registry=registry, consumer=deployed.address, models=served)


def deploy_llm_devnet(w3: Web3, models: Sequence[Path], params: DevnetParams = DevnetParams(),
                      network: str = "local") -> Deployment:
    """The LLM stack with every LLM file of `models` registered (ids in order, from 1) and a GenerationConsumer
    asking the first; window and clocks from `params`. DevnetError for a file that cannot be served (checked before anything is deployed)."""
    from opml.stacks.llm import LlmStackConfig, deploy_llm_stack  # the LLM stack is imported only when asked for

    from .llm_deploy import commit_llm_file

    commitments = [_commitment(path, commit_llm_file) for path in models]
    start_block = w3.eth.block_number + 1
    stack = deploy_llm_stack(w3, LlmStackConfig(clock_seconds=params.clock_seconds,
                                                challenge_window=params.challenge_window))
    registered = [(stack.register(commitment, Path(path).resolve().as_uri(), keccak(Path(path).read_bytes())), path)
                  for path, commitment in zip(models, commitments)]
    eos = commitments[0].llm.tokenizer.eos_id
    return stack_deployment(w3, stack, start_block, network, registered, "llm", "GenerationConsumer",
                            LLM_CALLBACK_GAS, eos)


def _commitment(path: Path, commit: Any = commit_model):  # noqa: ANN202 — a ModelCommitment (or LlmCommitment)
    try:
        return commit(path)
    except ModelFileError as exc:
        raise DevnetError(str(exc)) from None


def _loadable(path: Path) -> None:
    from opml.llm.llmfile import LLMFileError, is_llm_file, load  # the LLM modules only when a file is given

    try:
        if is_llm_file(path):
            load(path)
        else:
            load_quantized(path)
    except (ModelFileError, LLMFileError) as exc:
        raise DevnetError(str(exc)) from None


def _stack_kind(models: Sequence[Path]) -> str:
    """"llm" when every file is an LLM file, "ml" when none is; DevnetError for a mix (a deployment file
    describes one stack: the LLM stack has its own Coordinator and DisputeGame)."""
    from opml.llm.llmfile import is_llm_file

    llms = [is_llm_file(path) for path in models]
    if any(llms) and not all(llms):
        raise DevnetError("LLM files and ML model files cannot share a deployment (each stack has its own "
                          "coordinator): deploy them with separate --addresses files")
    return "llm" if all(llms) else "ml"


def deploy_to(rpc_url: str, addresses: Path, wait_s: float = 60.0, models: Sequence[Path] = ()) -> Deployment:
    """Deploy onto a chain already running at `rpc_url` (waiting up to `wait_s` for it to answer) and write the
    addresses file: the docker-compose deployer."""
    for path in models:
        _loadable(path)  # a bad model file fails before waiting for the chain
    if models:
        _stack_kind(models)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            rpc_call(rpc_url, "eth_chainId", timeout=1.0)
            break
        except (OSError, ValueError, AnvilError) as exc:
            if time.monotonic() > deadline:
                raise DevnetError(f"no chain answers at {rpc_url}: {exc}") from None
            time.sleep(0.5)
    ensure_built()
    deployment = deploy_devnet(Web3(Web3.HTTPProvider(rpc_url)), models=models)
    deployment.save(addresses)
    return deployment


def up(port: int = 8545, broker_port: int = 1883, runtime_dir: Path = RUNTIME_DIR,
       addresses: Path = DEPLOY_DIR / "local.json", models: Sequence[Path] = (), block_time: int = 0) -> dict:
    """Start Anvil (and mosquitto when installed), deploy (the toy stack, or the ML stack with `models`), write
    `addresses`; returns what was started. `block_time` > 0: after the deployment, a block every `block_time`
    seconds holding what was sent meanwhile, instead of a block per transaction (automine: under load Anvil's own
    CPU becomes the limit, docs/operators.md "Load")."""
    if block_time < 0:
        raise DevnetError(f"block time {block_time} s: give 0 (a block per transaction) or a positive number")
    state_file = runtime_dir / "devnet.json"
    if state_file.is_file():
        raise DevnetError(f"a devnet is already up ({state_file}); run `opml devnet down` first")
    for path in models:
        _loadable(path)  # a bad model file fails before any process starts
    if models:
        _stack_kind(models)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    ensure_built()
    state: dict = {"rpc_url": f"http://127.0.0.1:{port}", "pids": {}}
    state["pids"]["anvil"] = _start_anvil(port, runtime_dir / "anvil.log")
    try:
        broker = Mosquitto(broker_port).start(detach=True)
        state["pids"]["mosquitto"] = broker.process.pid  # type: ignore[union-attr]
        state["broker_url"] = broker.url
    except BrokerError as exc:
        log.warning("devnet_no_broker", reason=str(exc))
    _write_state(state_file, state)
    w3 = Web3(Web3.HTTPProvider(state["rpc_url"]))
    deployment = deploy_devnet(w3, models=models)
    deployment.save(addresses)
    state["addresses"] = str(addresses)
    if block_time:
        rpc_call(state["rpc_url"], "evm_setIntervalMining", [block_time])
        state["block_time_s"] = block_time
    _write_state(state_file, state)
    return state


def down(runtime_dir: Path = RUNTIME_DIR) -> list[str]:
    """Stop the processes `up` started and remove what it created: the addresses file and the runtime directory
    (Anvil's log, and the node caches kept there, which belong to the chain that is gone); returns the names of
    the processes stopped."""
    state_file = runtime_dir / "devnet.json"
    if not state_file.is_file():
        raise DevnetError(f"no devnet is up (no {state_file})")
    state = json.loads(state_file.read_text())
    stopped = []
    for name, pid in state.get("pids", {}).items():
        if _is_process(pid, name):
            os.kill(pid, signal.SIGTERM)
            stopped.append(name)
    if state.get("addresses"):
        Path(state["addresses"]).unlink(missing_ok=True)
    shutil.rmtree(runtime_dir, ignore_errors=True)
    log.info("devnet_removed", runtime_dir=str(runtime_dir), addresses=state.get("addresses"))
    return stopped


def _start_anvil(port: int, log_path: Path) -> int:
    if not ANVIL_BINARY.is_file():
        raise DevnetError(f"anvil not found at {ANVIL_BINARY}; run `make bootstrap` (npm ci)")
    with open(log_path, "ab") as out:
        process = subprocess.Popen([str(ANVIL_BINARY), "--host", "127.0.0.1", "--port", str(port), *NO_DISK_STATES],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevnetError(f"anvil exited at start (port {port} busy?); see {log_path}")
        try:
            if int(str(rpc_call(url, "eth_chainId", timeout=0.5)), 16) == CHAIN_ID:
                return process.pid
        except (OSError, ValueError, AnvilError):
            time.sleep(0.05)
    process.kill()
    raise DevnetError(f"anvil not ready on port {port}; see {log_path}")


def _is_process(pid: int, name: str) -> bool:
    """True when `pid` is alive and its command line names `name` (a reused pid is left alone)."""
    try:
        return name in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _write_state(path: Path, state: dict) -> None:
    path.write_text(json.dumps(state, indent=2) + "\n")
