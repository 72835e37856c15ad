"""`opml demo` (and `make demo`): the opML network on a fresh local devnet, with real daemons, on MNIST.

Anvil and an embedded MQTT broker start; the ML stack is deployed with the int8 CNN (`models/mnist_cnn.opml`)
registered and an ExampleConsumer; three daemons start as their own processes — Alice, an honest submitter;
Mallory, a submitter whose CNN is made to lie about one logit; Bob, an honest challenger. Three held-out MNIST
digits are asked through the consumer contract with the SDK. Alice answers requests 1 and 3, Mallory request 2
(config `requests`); Bob challenges Mallory's answer, the dispute goes down graph → tile → VM to one MIPS
instruction executed on chain, Mallory is slashed, Alice answers the reopened request, and after the challenge
window (the chain clock is moved past it) every honest result is final and delivered to the consumer.

The narrative comes from chain events; the summary is also written as JSON (`--json PATH`). The explorer
(`opml explorer`, its own process) follows the devnet; its URL is printed, and `--explore` keeps it and the devnet
up after the story until Ctrl-C. Every process the demo starts is stopped in `finally`, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil, AnvilError
from opml.chain.build import ensure_built
from opml.chain.contracts import deploy
from opml.chain.tx import TxError
from opml.explorer.process import ExplorerProcess
from opml.levels.commitments import ModelCommitment
from opml.levels.request_level import RequestLevel
from opml.levels.tiling import plan_model
from opml.ml import executor
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.node.bus import Bus
from opml.node.deployment import Deployment, ModelSpec
from opml.node.embedded_broker import EmbeddedBroker, EmbeddedBrokerError
from opml.node.monitor import Monitor
from opml.node.process import DaemonProcess, write_config
from opml.node.sdk import Requester
from opml.paths import REPO_ROOT
from opml.stacks.ml import MlStackConfig, deploy_ml_stack
from opml.vm.isa import disassemble

from .fmt import eth, indentable, narrative_only
from .story import Digit, Digits, Story, predicted_class

MODEL_FILE = "models/mnist_cnn.opml"
DATA_FILE = REPO_ROOT / "models" / "mnist_data.npz"
WINDOW_S = 300
CALLBACK_GAS = 200_000
LIE_NODE = 8  # the CNN's last node (Requantize → the 10 int8 logits): one logit per tile
LIE_VM_STEP = 100  # the VM state from which Mallory's run carries the wrong logit
KEYS = {"requester": DEV_PRIVATE_KEYS[1], "alice": DEV_PRIVATE_KEYS[2], "bob": DEV_PRIVATE_KEYS[3],
        "mallory": DEV_PRIVATE_KEYS[4]}


class DemoFailed(Exception):
    """The demo did not reach the outcome it shows (a daemon died, or a phase did not finish in time)."""


@dataclass(frozen=True)
class DemoOptions:
    digits: tuple[int, int, int] = (1401, 400, 800)  # MNIST test images (a 7, a 2, a 4); Mallory lies on the 2nd
    timeout_s: float = 150.0
    json_path: Path | None = None
    workdir: Path | None = None
    explore: bool = False  # keep the explorer (and the devnet) up after the story, until Ctrl-C


class BrokerThread:
    """The embedded broker on its own event loop thread, plus a bus listener counting the daemons' messages."""

    def __init__(self) -> None:
        self.broker = EmbeddedBroker()
        self.messages: dict[str, int] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="demo-broker", daemon=True)

    def start(self) -> BrokerThread:
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None or not self._ready.is_set():
            raise DemoFailed(f"the embedded broker did not start: {self._error}")
        return self

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await self.broker.start()
        except Exception as exc:  # reported by start() in the caller's thread
            self._error = exc
            self._ready.set()
            return
        listener = Bus("127.0.0.1", self.broker.port, 31337, "demo-narrator", self._count)
        task = asyncio.create_task(listener.run())
        self._ready.set()
        await self._stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self.broker.stop()

    def _count(self, topic: str, _payload: bytes) -> None:
        kind = topic.split("/")[2]
        self.messages[kind] = self.messages.get(kind, 0) + 1

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)


class DaemonDemo:
    """One run of the demo; `run()` returns the summary (and raises DemoFailed when an outcome is missing).

    The run is the same for every model: a devnet, three daemons (Alice and Mallory submit, Bob challenges), the
    requests asked through the consumer contract, Mallory's lie disputed and slashed, every request finalized and
    delivered, the credit withdrawn. What is asked and how it is told are the hooks `prepare`, `fault_line`,
    `new_story`, `post`, `delivered` and `outcome_line` (MNIST digits here; `opml.demos.llm` for an LLM)."""

    TITLE = "opML demo — MNIST on a local devnet: an honest and a faulty submitter, an honest challenger"
    CONSUMER = "ExampleConsumer"
    MALLORY_ANSWERS = 2  # the request Mallory answers first (Alice answers the others, and it once reopened)

    def __init__(self, options: DemoOptions = DemoOptions(), out=sys.stdout) -> None:  # noqa: ANN001
        self.options = options
        self.out = out
        self.say = indentable(self._print)
        self.started = time.monotonic()
        self.anvil: Anvil | None = None
        self.broker: BrokerThread | None = None
        self.daemons: dict[str, DaemonProcess] = {}
        self.explorer: ExplorerProcess | None = None
        self.workdir = options.workdir or Path(tempfile.mkdtemp(prefix="opml-demo-"))

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    # -- the run --------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._print(self.TITLE)
        summary: dict[str, Any] = {}
        try:
            self.setup()
            summary = self.play()
            if self.options.explore and self.explorer is not None:
                self._print(f"\nexplorer: {self.explorer.url} stays up with the devnet — Ctrl-C stops everything")
                self.explorer.wait_until_interrupted()
        finally:
            summary["processes_left"] = self.cleanup()
            summary["wall_s"] = round(time.monotonic() - self.started, 2)
            if self.options.json_path is not None:
                self.options.json_path.write_text(json.dumps(summary, indent=2) + "\n")
        self._print(f"  cleanup: Anvil, the broker and the 3 daemons stopped; {summary['wall_s']:.1f} s wall")
        return summary

    def setup(self) -> None:
        ensure_built()
        self.anvil = Anvil().start()
        self.w3 = Web3(Web3.HTTPProvider(self.anvil.url, request_kwargs={"timeout": 30}))
        self.broker = BrokerThread().start()
        self.say(f"devnet: Anvil at {self.anvil.url}, embedded MQTT broker (amqtt) at {self.broker.broker.url}")
        self.prepare()
        self._start_daemons()
        self.explorer = ExplorerProcess(self.anvil.url, self.workdir / "demo.json", self.broker.broker.url,
                                        self.workdir / "explorer.log").start()
        self.say(f"explorer: {self.explorer.url} (live: the requests, the dispute drawn round by round, the money)")

    # -- what the MNIST demo asks (the hooks) -----------------------------------------------------------------
    def prepare(self) -> None:
        """Deploy the stack with the model registered (`self.deployment`, saved as demo.json; `self.stack`,
        `self.config`, `self.consumer`), choose the inputs (`self.inputs`) and Mallory's fault (`self.fault`)."""
        self.quantized = QuantizedModel.load(REPO_ROOT / MODEL_FILE)
        self.commitment = ModelCommitment(self.quantized.model, plan_model(self.quantized.model))
        self.deployment = self._deploy()
        self.inputs, self.digits = self._digits()
        self.fault = self._mallory_fault(self.inputs[1])

    def _deploy(self) -> Deployment:
        start = self.w3.eth.block_number + 1
        self.config = MlStackConfig(challenge_window=WINDOW_S)
        stack = deploy_ml_stack(self.w3, self.config)
        model_id = stack.register(self.commitment)
        consumer = deploy(self.w3, "ExampleConsumer", stack.bindings.coordinator.address, model_id, CALLBACK_GAS)
        self.stack, self.model_id, self.consumer = stack, model_id, consumer.address
        deployment = Deployment(network="demo", chain_id=self.w3.eth.chain_id, start_block=start,
                                coordinator=stack.bindings.coordinator.address, game=stack.bindings.game.address,
                                registry=stack.registry.address, consumer=consumer.address,
                                models={model_id: ModelSpec(kind="ml", model_file=MODEL_FILE)})
        deployment.save(self.workdir / "demo.json")
        nodes = len(self.quantized.model.nodes)
        self.say(f"contracts: Coordinator {deployment.coordinator}, DisputeGame {deployment.game}, MIPS "
                 f"{stack.levels.step.address}")
        self.say(f"model #{model_id}: the int8 MNIST CNN, {nodes} graph nodes, registered by its graph, constants "
                 f"and kernel roots; ExampleConsumer at {consumer.address}")
        return deployment

    def _digits(self) -> tuple[list[bytes], list[Digit]]:
        with np.load(DATA_FILE) as data:
            images, labels = data["test_x"], data["test_y"]
            if not all(0 <= i < len(labels) for i in self.options.digits):
                raise DemoFailed(f"--digits must be indices of the {len(labels)} MNIST test images")
            chosen = [(i, int(labels[i]), self.quantized.quantize_input(as_float_input(images[i])))
                      for i in self.options.digits]
        return [x.tobytes() for _, _, x in chosen], [Digit(i, label) for i, label, _ in chosen]

    def _mallory_fault(self, data: bytes) -> str:
        """Mallory lowers the top logit of the second digit just below the runner-up: her CNN names the wrong
        class, and nothing else about her run differs."""
        spec = self.quantized.model.tensors[self.quantized.model.inputs[0]]
        value = np.frombuffer(data, np.int8).reshape(spec.shape)
        logits = executor.run(self.quantized.model, value).result[0].reshape(-1).astype(int)
        top, runner_up = np.argsort(logits)[::-1][:2]
        delta = int(logits[runner_up] - logits[top] - 1)
        self.lie = (int(top), int(runner_up))
        return f"wrong-output:{LIE_NODE}:{int(top)}:{LIE_VM_STEP}:{delta}"

    def _start_daemons(self) -> None:
        common = {"rpc_url": self.anvil.url, "deployment": str(self.workdir / "demo.json"),  # type: ignore[union-attr]
                  "poll_interval_s": 0.2, "log_format": "json", "model_dir": str(REPO_ROOT),
                  "broker_url": self.broker.broker.url}  # type: ignore[union-attr]
        honest = [i for i in range(1, len(self.inputs) + 1) if i != self.MALLORY_ANSWERS]
        roles = {"alice": ("submitter", {"requests": honest}),
                 "mallory": ("submitter", {"requests": [self.MALLORY_ANSWERS], "faults": [self.fault]}),
                 "bob": ("challenger", {})}
        for name, (role, extra) in roles.items():
            config = write_config(self.workdir / f"{name}.toml", node_name=name, private_key=KEYS[name],
                                  cache_dir=str(self.workdir / f"cache-{name}"), **common, **extra)
            self.daemons[name] = DaemonProcess(role, config, self.workdir / f"{name}.log").start()
        for name, daemon in self.daemons.items():
            daemon.wait_for("daemon_started", timeout=self.options.timeout_s)
        self.say(f"daemons up (own processes, logs in {self.workdir}): Alice — honest submitter "
                 f"{self._address('alice')}; Mallory — {self.fault_line()} {self._address('mallory')}; Bob — "
                 f"honest challenger {self._address('bob')}")

    def fault_line(self) -> str:
        top, runner_up = self.lie
        return f"submitter whose CNN lowers logit {top} under logit {runner_up}"

    @staticmethod
    def _address(name: str) -> str:
        return Account.from_key(KEYS[name]).address

    def play(self) -> dict[str, Any]:
        cast = {self._address(n): n.capitalize() for n in ("alice", "bob", "mallory")}
        cast[self.consumer] = self.CONSUMER
        self.story = self.new_story(cast)
        contracts = [self.stack.bindings.coordinator.contract, self.stack.bindings.game.contract]
        self.monitor = Monitor(self.w3, contracts, self.deployment.start_block)
        self.balances = {n: self.w3.eth.get_balance(self._address(n)) for n in ("alice", "bob", "mallory")}
        self._print("")
        requester = Requester(self.w3, KEYS["requester"], self.deployment)
        self.request_ids = self.post(requester)
        count, tally = len(self.request_ids), self.story.tally
        self._until("the dispute is decided and every answer is checked",
                    lambda: len(tally.slashed) == 1 and self._agreed() >= count and
                    sum(len(v) for v in tally.submitted.values()) >= count + 1)
        self.say(f"Bob agrees with Alice's {count} answers; the chain clock is moved past the "
                 f"{self.config.challenge_window} s window")
        self.w3.provider.make_request("evm_increaseTime", [self.config.challenge_window + 1])
        self.w3.provider.make_request("evm_mine", [])
        self._until("every request is final",
                    lambda: len(tally.finalized) == count and len(tally.callbacks) == count)
        self._until("the daemons withdrew their credit", self._withdrawn)
        return self._summary(requester)

    def new_story(self, cast: dict[str, str]) -> Story:
        subject = Digits(dict(enumerate(self.digits, start=1)), [node.op.value for node in self.quantized.model.nodes])
        return Story(self.say, cast, subject, self._decisive,
                     (self.config.submitter_bond, self.config.challenger_bond, self.config.burn_bps))

    def post(self, requester: Requester) -> list[int]:
        """Ask every input through the consumer contract; the request ids."""
        return [requester.ask(self.consumer, data) for data in self.inputs]

    def _until(self, what: str, done) -> None:  # noqa: ANN001
        deadline = time.monotonic() + self.options.timeout_s
        while True:
            _, events = self.monitor.poll()
            for event in events:
                self.story.on(event)
            if done():
                return
            for name, daemon in self.daemons.items():
                if not daemon.alive:
                    raise DemoFailed(f"{name}'s daemon exited while waiting until {what}:\n{daemon.tail()}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"not done in {self.options.timeout_s} s: {what}")
            time.sleep(0.1)

    def _agreed(self) -> int:
        return len(self.daemons["bob"].events("result_agreed"))

    def _withdrawn(self) -> bool:
        coordinator = self.stack.bindings.coordinator
        return all(coordinator.balance_of(self._address(n)) == 0 for n in ("alice", "bob"))

    def _decisive(self, request_id: int, parents: tuple[int, ...], lo: int) -> str:
        """The instruction at VM step `lo` of the honest run of the disputed tile of the disputed node (`parents`)
        on the request's digit."""
        node, tile = parents
        spec = self.quantized.model.tensors[self.quantized.model.inputs[0]]
        value = np.frombuffer(self.inputs[request_id - 1], np.int8).reshape(spec.shape)
        return instruction_at(RequestLevel(self.commitment, value).graph.tile_level(node).vm_level(tile), lo)

    # -- the end --------------------------------------------------------------------------------------------
    def _summary(self, requester: Requester) -> dict[str, Any]:
        tally = self.story.tally
        self._print("")
        delivered = self.delivered(requester)
        transactions, gas = self._chain_totals()
        moved = {n: self.w3.eth.get_balance(self._address(n)) - before for n, before in self.balances.items()}
        games = sorted(tally.challenged)
        summary = {
            "requests": len(self.request_ids),
            "submitted": {str(k): v for k, v in sorted(tally.submitted.items())},
            "finalized": {str(k): v for k, v in sorted(tally.finalized.items())},
            "delivered": {str(k): v for k, v in delivered.items()},
            **self.facts(),
            "slashed": {str(k): v for k, v in tally.slashed.items()},
            "games": {str(g): {"winner": tally.winners.get(g), "by_step": tally.by_step.get(g),
                               "levels": tally.levels.get(g, []), "step": tally.steps.get(g)} for g in games},
            "burned_wei": tally.burned,
            "balance_change_wei": moved,
            "transactions": transactions,
            "gas": gas,
            "mqtt_messages": dict(self.broker.messages) if self.broker else {},  # type: ignore[union-attr]
            "explorer": self.explorer.indexed(len(self.request_ids), len(games)) if self.explorer else None,
            "pids": self.pids(),
        }
        self._print("")
        self._print("summary")
        self.say(f"{summary['requests']} requests, {len(tally.finalized)} finalized and delivered "
                 f"({self.outcome_line(delivered)}); "
                 f"{len(tally.slashed)} faulty result slashed in {len(games)} dispute decided by a MIPS step")
        self.say(f"money (after gas): Alice {eth(moved['alice'])}, Bob {eth(moved['bob'])}, Mallory "
                 f"{eth(moved['mallory'])}; burned {eth(tally.burned)}")
        self.say(f"{transactions} transactions, {gas:,} gas; MQTT messages seen: {summary['mqtt_messages']}")
        return summary

    def delivered(self, requester: Requester) -> dict[int, Any]:
        """What the consumer contract holds for each request, told and returned (None: not delivered)."""
        tally = self.story.tally
        self.say("what the consumer contract holds (ExampleConsumer.outputOf):")
        delivered = {}
        for request_id, digit in zip(self.request_ids, self.digits):
            output = requester.delivered(self.consumer, request_id)
            delivered[request_id] = None if output is None else predicted_class(output)
            self.say(f"request #{request_id}: class {delivered[request_id]} for a handwritten {digit.label}, "
                     f"answered by {tally.finalized.get(request_id)}", indent=4)
        return delivered

    def facts(self) -> dict[str, Any]:
        """What the summary adds about the inputs."""
        return {"labels": {str(r): d.label for r, d in zip(self.request_ids, self.digits)}}

    def outcome_line(self, delivered: dict[int, Any]) -> str:
        correct = sum(1 for r, c in delivered.items() if c == self.digits[r - 1].label)
        return f"{correct} correct digits"

    def _chain_totals(self) -> tuple[int, int]:
        transactions = gas = 0
        for number in range(self.deployment.start_block, self.w3.eth.block_number + 1):
            block = self.w3.eth.get_block(number)
            transactions += len(block["transactions"])
            gas += int(block["gasUsed"])
        return transactions, gas

    def pids(self) -> dict[str, int]:
        """The processes the demo started: the daemons and Anvil."""
        pids = {name: d.process.pid for name, d in self.daemons.items() if d.process is not None}
        if self.anvil is not None and self.anvil._process is not None:  # noqa: SLF001
            pids["anvil"] = self.anvil._process.pid  # noqa: SLF001
        if self.explorer is not None and self.explorer.process is not None:
            pids["explorer"] = self.explorer.process.pid
        return pids

    def cleanup(self) -> list[int]:
        """Stop every process the demo started; the pids still alive afterwards (none, normally)."""
        pids = self.pids()
        for daemon in self.daemons.values():
            daemon.stop()
        if self.explorer is not None:
            self.explorer.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.anvil is not None:
            self.anvil.stop()
        return [pid for pid in pids.values() if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]


def instruction_at(vm_level: Any, lo: int) -> str:
    """The instruction a VM level's state `lo` executes next, as the story prints it."""
    pre = vm_level.state_at(lo)
    return f"pc {pre.pc:#010x}: `{disassemble(pre.memory.read_word(pre.pc))}`"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def run_demo(options: DemoOptions, demo: type[DaemonDemo] = DaemonDemo) -> int:
    """`opml demo` (`demo`: the MNIST one, or `llm.LlmDemo`): 0 when the honest results were final and delivered,
    the liar slashed by a MIPS step; 1 when an outcome did not come; 2 when the devnet could not be set up (one line
    on stderr)."""
    with narrative_only():
        try:
            summary = demo(options).run()
        except DemoFailed as exc:  # an outcome did not come: exit 1
            print(f"opml demo: {exc}", file=sys.stderr)
            return 1
        except (AnvilError, EmbeddedBrokerError, TxError, OSError) as exc:  # no devnet to run on: exit 2
            print(f"opml demo: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    return 0 if demo_succeeded(summary) else 1


def demo_succeeded(summary: dict[str, Any]) -> bool:
    games = summary.get("games", {})
    return (len(summary.get("finalized", {})) == summary.get("requests")
            and set(summary.get("finalized", {}).values()) == {"Alice"}
            and all(v is not None for v in summary.get("delivered", {}).values())
            and list(summary.get("slashed", {}).values()) == ["Mallory"]
            and all(g["winner"] == "Bob" and g["by_step"] for g in games.values()) and len(games) == 1
            and not summary.get("processes_left"))
