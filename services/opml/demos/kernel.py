"""`opml demo --kernel`: a real kernel computation requested, submitted and disputed on a fresh local Anvil, narrated.

The dispute is over the VM level of one MIPS kernel run (`matmul_i8`): the request input is the kernel's params
and input tensors, its commitment is the run's initial VM state (derived on chain by `VmCommitment`), and a
challenge bisects the submitter's VM trace down to one instruction that the `MIPS` contract executes.

The contract stack is `opml.stacks.kernel`.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

import numpy as np
from web3 import Web3

from opml.chain.anvil import CHAIN_ID, DEV_PRIVATE_KEYS, Anvil, AnvilError
from opml.chain.build import BuildError, ensure_built
from opml.chain.contracts import DeploymentError
from opml.chain.tx import ContractRevert, Mined, TxError, TxSender
from opml.game.bisection import checkpoint_positions
from opml.game.trace import TraceError
from opml.game.types import Action, GameView, OpenLevel, Phase, PickSegment, PostCheckpoints, Role, Step
from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.levels.kernel_level import LyingVmRequestProvider, VmRequestProvider, encode_kernel_input
from opml.levels.vm_level import LyingVmLevel, VmLevel, VmLie
from opml.paths import REPO_ROOT
from opml.stacks.driver import GameDriver, GameStalled, Party, anvil_warp, chain_time
from opml.stacks.kernel import VmStack, VmStackConfig, deploy_vm_stack
from opml.vm import layout
from opml.vm.isa import disassemble
from opml.vm.snapshots import VMTrace

from .fmt import eth, narrative_only, short_hash

MODELS_DIR = REPO_ROOT / "models"
AMOUNT = ".4g"  # how ether amounts print here: bonds and fees are round numbers (2 ETH, 0.01 ETH)


# -- the narrated demo ----------------------------------------------------------------------------------------------
NAMES = {"requester": "Rita (requester)", "alice": "Alice (honest submitter)", "mallory": "Mallory (faulty submitter)",
         "bob": "Bob (challenger)"}


# What stops the kernel demo before its game is played out: arguments the run cannot serve, no Anvil, no contracts.
KERNEL_DEMO_ERRORS = (TraceError, AnvilError, BuildError, DeploymentError, TxError, OSError)


def run_kernel_demo(seed: int | None, shape: tuple[int, int, int], trace_depth: int, lie_at: int | None) -> int:
    """`opml demo --kernel`: 0 when every outcome was the expected one (honest result final, the liar slashed by
    one MIPS step), 1 when one was not, 2 when the demo could not run (one line on stderr)."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    demo = Demo(seed, shape, VmStackConfig(trace_depth=trace_depth), lie_at)
    try:
        with narrative_only():
            return demo.run()
    except KERNEL_DEMO_ERRORS as exc:  # exit 2, one line: a run that does not fit the trace, no Anvil, ...
        print(f"opml demo: {exc}", file=sys.stderr)
        return 2


@dataclass(frozen=True)
class Job:
    """One request: C = A·B with A int8[m,k], B int8[k,n]; the product as numpy computes it."""

    a: np.ndarray
    b: np.ndarray

    @property
    def params(self) -> bytes:
        (m, k), n = self.a.shape, self.b.shape[1]
        return pack_matmul_params(m, k, n)

    @property
    def request_input(self) -> bytes:
        return encode_kernel_input(self.params, (self.a.tobytes(), self.b.tobytes()))

    @property
    def output_size(self) -> int:
        return self.a.shape[0] * self.b.shape[1] * 4

    def native(self) -> np.ndarray:
        return self.a.astype(np.int32) @ self.b.astype(np.int32)

    def run_vm(self) -> VMTrace:
        state = load_kernel("matmul_i8", params=self.params, inputs=(self.a.tobytes(), self.b.tobytes()))
        return VMTrace(state, interval=128)


def random_job(rng: np.random.Generator, shape: tuple[int, int, int]) -> Job:
    m, k, n = shape
    return Job(rng.integers(-128, 128, size=(m, k), dtype=np.int8), rng.integers(-128, 128, size=(k, n), dtype=np.int8))


class DemoFailed(Exception):
    """An outcome other than the protocol promises (the demo then exits non-zero)."""


class Demo:
    """The narrated run: deploy, an honest request finalized, a faulty submission disputed and slashed, the
    request answered honestly. Every transaction is counted; Anvil is always stopped."""

    def __init__(self, seed: int, shape: tuple[int, int, int], config: VmStackConfig, lie_at: int | None) -> None:
        self.seed, self.shape, self.config, self.lie_at = seed, shape, config, lie_at
        self.rng = np.random.default_rng(seed)
        self.txs, self.gas = 0, 0  # every transaction after deployment
        self.section = 0
        self.started = time.perf_counter()
        self.forged_at = -1  # the step from which Mallory's trace is forged
        self.w3: Web3
        self.stack: VmStack
        self.parties: dict[str, TxSender]

    # -- output ---------------------------------------------------------------------------------------------------
    def title(self, text: str) -> None:
        self.section += 1
        print(f"\n[{self.section}] {text}  (t = {time.perf_counter() - self.started:.1f} s)", flush=True)

    @staticmethod
    def say(text: str = "", indent: int = 4) -> None:
        print(" " * indent + text, flush=True)

    def send(self, sender: TxSender, call, value: int = 0) -> Mined:  # type: ignore[no-untyped-def]
        mined = sender.send(call, value=value)
        self.txs += 1
        self.gas += mined.gas_used
        return mined

    # -- the story ------------------------------------------------------------------------------------------------
    def run(self) -> int:
        self.started = time.perf_counter()
        print(f"opml demo — optimistic ML on a local chain (seed {self.seed})", flush=True)
        node = Anvil()
        try:
            node.start()
            self.title(f"Devnet: Anvil on {node.url} (chain {CHAIN_ID}), started by this demo")
            self.w3 = node.web3()
            self.deploy()
            self.context()
            self.honest_request()
            game_ok = self.faulty_request()
        except (DemoFailed, ContractRevert) as exc:
            print(f"\nDEMO FAILED: {exc}", flush=True)
            return 1
        finally:
            node.stop()
        wall = time.perf_counter() - self.started
        print(f"\nTotals: {self.txs} transactions after deployment, {self.gas:,} gas; wall time {wall:.1f} s. "
              f"Anvil stopped.", flush=True)
        return 0 if game_ok else 1

    def deploy(self) -> None:
        ensure_built()
        self.stack = deploy_vm_stack(self.w3, self.config)
        errors = self.stack.bindings.errors()
        self.parties = {name: TxSender(self.w3, DEV_PRIVATE_KEYS[i], errors)
                        for i, name in enumerate(("admin", "requester", "alice", "mallory", "bob"))}
        s = self.stack
        self.say(f"deployed ModelRegistry, MIPS (the one-instruction step), VmLinkVerifier, VmCommitment, "
                 f"DisputeGame, Coordinator: {s.deploy_gas:,} gas")
        self.say(f"model #{s.model_id} = the kernel `{self.config.kernel}` (code root {short_hash(s.model_roots[2])}); "
                 f"VM traces of 2^{self.config.trace_depth} steps, {self.config.checkpoint_count} checkpoints a round")
        self.say(f"bonds: submitter {eth(self.config.submitter_bond, AMOUNT)}, "
                 f"challenger {eth(self.config.challenger_bond, AMOUNT)}, "
                 f"{self.config.burn_bps / 100:g}% of a loser's bond burned; challenge window "
                 f"{self.config.challenge_window} s")

    def context(self) -> None:
        self.title("Context: what runs where")
        self.say(mnist_context())
        self.say("The dispute below is over the VM level of one kernel run (an int8 matrix product in the MIPS VM).")
        self.say("A dispute over a whole network descends graph → tile → VM the same way: `opml demo` (daemons) and "
                 "`opml dispute-demo` show it.")

    def prepare(self, label: str) -> tuple[Job, VMTrace, VmRequestProvider]:
        job = random_job(self.rng, self.shape)
        t0 = time.perf_counter()
        native = job.native()
        t1 = time.perf_counter()
        run = job.run_vm()
        t2 = time.perf_counter()
        honest = self.provider(run, job)
        same = np.array_equal(np.frombuffer(honest.output, dtype="<i4").reshape(native.shape), native)
        (m, k), n = job.a.shape, job.b.shape[1]
        self.say(f"{label}: C = A·B, A int8[{m}×{k}], B int8[{k}×{n}] → int32[{m}×{n}] (random data)")
        warmup = " incl. loading the compiled fast VM" if label == "The computation" else ""
        self.say(f"natively (numpy): {(t1 - t0) * 1e3:.2f} ms;  in the MIPS VM: {run.final_step} instructions, "
                 f"{(t2 - t1) * 1e3:.0f} ms{warmup}, exit code {run.final_state().exit_code}; same result: "
                 f"{'yes' if same else 'NO'}")
        if not same:
            raise DemoFailed("the VM result differs from numpy's")
        return job, run, honest

    def provider(self, run: VMTrace, job: Job, lie: VmLie | None = None,
                 claimed: bytes | None = None) -> VmRequestProvider:
        vm = VmLevel(run, self.config.trace_length)
        own = VmRequestProvider(self.stack.model_roots, vm if lie is None else LyingVmLevel(vm, lie), job.output_size)
        return own if claimed is None else LyingVmRequestProvider(own, claimed)

    def request(self, job: Job, honest: VmRequestProvider) -> int:
        c = self.stack.bindings.coordinator
        mined = self.send(self.parties["requester"], c.request(self.stack.model_id, job.request_input),
                          value=self.config.model_fee)
        event = c.events("RequestCreated", mined.receipt)[0]
        derived = bytes(event["inputCommitment"])
        self.say(f"{NAMES['requester']} requests it: {len(job.request_input)} input bytes, fee "
                 f"{eth(self.config.model_fee, AMOUNT)} → request #{event['requestId']} ({mined.gas_used:,} gas)")
        self.say(f"the chain derives the initial VM state from those bytes: {short_hash(derived)} "
                 f"({'= ' if derived == honest.vm.root_at(0) else '≠ '}the VM's own S_0)")
        if derived != honest.vm.root_at(0):
            raise DemoFailed("the on-chain initial state differs from the VM's")
        return event["requestId"]

    def submit(self, who: str, request_id: int, provider: VmRequestProvider) -> None:
        c = self.stack.bindings.coordinator
        mined = self.send(self.parties[who], c.submit(request_id, provider.claim_preimage(1),
                                                      provider.trace_commitment()),
                          value=self.config.submitter_bond)
        event = c.events("ResultSubmitted", mined.receipt)[0]
        values = np.frombuffer(provider.output, dtype="<i4")
        self.say(f"{NAMES[who]} submits C = {_preview(values)} with bond {eth(self.config.submitter_bond, AMOUNT)}: "
                 f"output commitment {short_hash(event['outputCommitment'])}, trace commitment "
                 f"{short_hash(provider.trace_commitment())} ({mined.gas_used:,} gas)")

    def finalize(self, request_id: int, submitter: str) -> None:
        c = self.stack.bindings.coordinator
        before = c.balance_of(self.parties[submitter].address)
        anvil_warp(self.w3)(self.config.challenge_window)
        mined = self.send(self.parties["requester"], c.finalize(request_id))
        gained = c.balance_of(self.parties[submitter].address) - before
        self.say(f"no challenge in {self.config.challenge_window} s (time warped) → finalized "
                 f"({mined.gas_used:,} gas); {NAMES[submitter]} is credited {eth(gained, AMOUNT)} (fee + bond back)")

    def honest_request(self) -> None:
        self.title("An honest result, finalized")
        job, run, honest = self.prepare("The computation")
        request_id = self.request(job, honest)
        self.submit("alice", request_id, honest)
        self.say(f"{NAMES['bob']} recomputes and gets the same output and trace commitments: no challenge")
        self.finalize(request_id, "alice")

    def faulty_request(self) -> bool:
        self.title("A faulty result, challenged")
        job, run, honest = self.prepare("Another computation")
        request_id = self.request(job, honest)
        liar, self.forged_at = self.forge(job, run, honest)
        self.submit("mallory", request_id, liar)
        differs = liar.root_at(1) != honest.root_at(1)
        self.say(f"{NAMES['bob']} recomputes: output commitment {'differs' if differs else 'agrees'}, "
                 f"trace commitment differs → challenges with bond {eth(self.config.challenger_bond, AMOUNT)}")
        c = self.stack.bindings.coordinator
        balances = {who: c.balance_of(self.parties[who].address) for who in ("mallory", "bob")}
        mined = self.send(self.parties["bob"], c.challenge(request_id), value=self.config.challenger_bond)
        game_id = c.events("Challenged", mined.receipt)[0]["gameId"]
        self.say(f"game #{game_id} opened ({mined.gas_used:,} gas)")
        self.title(f"The dispute: bisection of the {self.config.trace_length}-step VM trace, then one instruction")
        self.say(f"(the run halts at step {run.final_step}; past it the trace repeats the exited state)")
        game_txs, game_gas, t0 = self.txs - 1, self.gas - mined.gas_used, time.perf_counter()
        outcome = self.play(game_id, {Role.SUBMITTER: ("mallory", liar), Role.CHALLENGER: ("bob", honest)})
        self.say(f"dispute: {self.txs - game_txs} transactions, {self.gas - game_gas:,} gas from the challenge on, "
                 f"{time.perf_counter() - t0:.2f} s of play")
        self.title("Settlement")
        self.settle(balances, request_id, job, honest)
        return outcome is Phase.CHALLENGER_WON

    def forge(self, job: Job, run: VMTrace, honest: VmRequestProvider) -> tuple[VmRequestProvider, int]:
        """Mallory's claim: C[0,0] off by 64, in the output region of every state of her run from step `at` on (so
        her trace ends in her output, the VM level opens, and only one instruction can refute her)."""
        wrong = bytearray(honest.output)
        wrong[0] ^= 0x40
        final = run.final_step
        at = self.lie_at if self.lie_at is not None else int(self.rng.integers(final // 2, final + 1))
        liar = self.provider(run, job, VmLie(at, layout.OUTPUT.base, bytes(wrong[:4])), bytes(wrong))
        self.say(f"{NAMES['mallory']} claims C[0,0] = {int.from_bytes(wrong[:4], 'little', signed=True)} instead of "
                 f"{int.from_bytes(honest.output[:4], 'little', signed=True)}, backed by a VM trace that writes it "
                 f"into memory at step {at} of {final}")
        return liar, at

    def play(self, game_id: int, parties: dict[Role, tuple[str, VmRequestProvider]]) -> Phase:
        """The game driver plays each party's solver moves until the game is decided and settled; every mined move
        is narrated from its callback."""
        honest = parties[Role.CHALLENGER][1]
        rounds = 0

        def narrate(view: GameView, action: Action, party: Party, mined: Mined) -> None:
            nonlocal rounds
            self.txs += 1
            self.gas += mined.gas_used
            rounds += isinstance(action, (OpenLevel, PostCheckpoints))
            self.narrate(view, action, party.name, mined, rounds, honest)

        players = [Party(role, self.parties[who], provider, who) for role, (who, provider) in parties.items()]
        try:
            log = GameDriver(self.stack.bindings, chain_time(self.w3), on_move=narrate).play({game_id: players}, 200)
        except GameStalled as exc:
            raise DemoFailed(f"game {game_id} not decided: {exc}") from exc
        if log.rejections:
            raise DemoFailed(f"a move was rejected: {log.rejections[0]}")
        return log.outcomes[game_id].phase

    def narrate(self, view: GameView, action, who: str, mined: Mined, round_no: int,  # type: ignore[no-untyped-def]
                honest: VmRequestProvider) -> None:
        name, gas = NAMES[who].split(" ")[0], f"({mined.gas_used:,} gas)"
        after = self.stack.bindings.read_game(view.game_id)
        if isinstance(action, OpenLevel):
            self.say(f"round {round_no}: {name} opens the VM level, [0, {action.sub_length}], from S_0 = "
                     f"{short_hash(after.root_lo)} (the chain's, unwrapped from the request anchor); the link verifier "
                     f"checks "
                     f"that her end state exited with her output in its output region {gas}")
            self.say(f"{name} posts {len(action.checkpoints)} checkpoints at steps "
                     f"{_positions(0, action.sub_length, self.config.checkpoint_count)}", indent=6)
        elif isinstance(action, PostCheckpoints):
            self.say(f"round {round_no}: {name} posts {len(action.roots)} checkpoints inside [{view.lo}, {view.hi}] "
                     f"at steps {_positions(view.lo, view.hi, self.config.checkpoint_count)} {gas}")
        elif isinstance(action, PickSegment):
            self.say(f"{name} agrees with step {after.lo}, disputes step {after.hi} → interval [{after.lo}, "
                     f"{after.hi}] {gas}", indent=6)
        elif isinstance(action, Step):
            self.narrate_step(view, name, mined, honest)
        else:
            self.say(f"{name}: {type(action).__name__} {gas}")

    def narrate_step(self, view: GameView, name: str, mined: Mined, honest: VmRequestProvider) -> None:
        pre = honest.vm.state_at(view.lo)
        word = pre.memory.read_word(pre.pc)
        stepped = self.stack.bindings.game.events("Stepped", mined.receipt)[0]
        resolved = self.stack.bindings.game.events("GameResolved", mined.receipt)[0]
        winner = "Mallory (submitter)" if resolved["submitterWon"] else "Bob (challenger)"
        self.say(f"the disagreement is one instruction: step {view.lo} → {view.hi}, pc {pre.pc:#010x}: "
                 f"`{disassemble(word)}` ({word:#010x})")
        self.say(f"{name} sends the pre-state and its memory proofs; MIPS.stepFrom executes it on chain "
                 f"({mined.gas_used:,} gas with settlement):", indent=6)
        self.say(f"computed post-state {short_hash(stepped['computedPost'])}, Mallory claimed "
                 f"{short_hash(stepped['claimedPost'])} "
                 f"→ {winner} wins", indent=6)
        if view.hi == self.forged_at:
            self.say("(Mallory's state after this step holds her forged C[0,0]; the instruction does not write it)",
                     indent=6)

    def settle(self, before: dict[str, int], request_id: int, job: Job, honest: VmRequestProvider) -> None:
        c = self.stack.bindings.coordinator
        gained = {who: c.balance_of(self.parties[who].address) - before[who] for who in ("mallory", "bob")}
        burned = self.stack.coordinator.functions.totalBurned().call()
        self.say(f"Mallory's submission is slashed: she loses her {eth(self.config.submitter_bond, AMOUNT)} bond "
                 f"(credited {eth(gained['mallory'], AMOUNT)}); {eth(burned, AMOUNT)} of it is burned")
        self.say(f"Bob is credited {eth(gained['bob'], AMOUNT)}: his {eth(self.config.challenger_bond, AMOUNT)} bond back "
                 f"plus "
                 f"{eth(gained['bob'] - self.config.challenger_bond, AMOUNT)} of Mallory's")
        self.say("the request is open again; an honest node answers it:")
        self.submit("alice", request_id, honest)
        self.finalize(request_id, "alice")
        final = c.get_request(request_id)
        self.say(f"request #{request_id} is {final.status.name.lower()} with Alice's (correct) output")


def _positions(lo: int, hi: int, n: int) -> str:
    points = checkpoint_positions(lo, hi, n)
    return ", ".join(map(str, points)) if len(points) <= 6 else f"{points[0]}, {points[1]}, …, {points[-1]}"


def _preview(values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:4])
    return f"[{shown}{', …' if len(values) > 4 else ''}]"


def mnist_context() -> str:
    """One MNIST test digit classified natively by the committed int8 CNN, if the model is present."""
    try:
        from opml.ml import executor
        from opml.ml.cli import model_input
        from opml.ml.scales import QuantizedModel

        quantized = QuantizedModel.load(MODELS_DIR / "mnist_cnn.opml")
        data = np.load(MODELS_DIR / "mnist_data.npz")
        index = 0
        started = time.perf_counter()
        output = executor.run(quantized.model, model_input(quantized, data["test_x"], index)).result[0]
        ms = (time.perf_counter() - started) * 1e3
        return (f"MNIST: the int8 CNN (models/mnist_cnn.opml) classifies test digit #{index} natively as "
                f"{int(np.argmax(output))} (label {int(data['test_y'][index])}) in {ms:.0f} ms — that is what a "
                f"requester would ask for.")
    except Exception as exc:  # the context line is optional; the demo does not depend on it
        return f"MNIST model not available here ({type(exc).__name__}: {exc})."
