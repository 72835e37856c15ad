"""A real kernel computation disputed on Anvil down to one on-chain MIPS step.

A `matmul_i8` run on random int8 data is requested (its input commitment, the initial VM state, is derived on
chain by VmCommitment), submitted and challenged; the game's one level is the VM trace, opened through
VmLinkVerifier and decided by the production MIPS contract. Lying submitters lose, a lying challenger loses, and
the decisive instruction is executed by MIPS.stepFrom each time (checked in the transaction's call trace).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest
from fixtures_game import GameStack, Played, StackConfig, advance_time, challenge, events, play, request, send, \
    submit
from web3 import Web3

from opml.game.settlement import slash_share
from opml.chain.tx import ErrorDecoder
from opml.game.types import Phase, Role
from opml.stacks.kernel import VmStack, VmStackConfig, deploy_vm_stack
from opml.levels.kernel_level import (
    KernelInputError,
    LyingVmRequestProvider,
    VmRequestProvider,
    decode_kernel_input,
    encode_kernel_input,
    initial_state_hash,
    link_proof,
    output_commitment,
)
from opml.levels.vm_level import LyingVmLevel, VmLevel, VmLie
from opml.kernels import code_root, load_kernel
from opml.kernels.params import pack_matmul_params, pack_params
from opml.vm import layout
from opml.vm.snapshots import VMTrace

M, K, N = 3, 5, 4
CONFIG = VmStackConfig(trace_depth=12, checkpoint_count=15)
STEP_FROM = Web3.keccak(text="stepFrom(bytes32,bytes,bytes)")[:4]


@dataclass(frozen=True)
class Job:
    """One matmul request: params, the two input tensors, and the product numpy computes."""

    params: bytes
    inputs: tuple[bytes, bytes]
    product: np.ndarray

    @property
    def request_input(self) -> bytes:
        return encode_kernel_input(self.params, self.inputs)


def make_job(seed: int, m: int = M, k: int = K, n: int = N) -> Job:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return Job(pack_matmul_params(m, k, n), (a.tobytes(), b.tobytes()), a.astype(np.int32) @ b.astype(np.int32))


@pytest.fixture(scope="module")
def job() -> Job:
    return make_job(2026)


@pytest.fixture(scope="module")
def honest_run(job: Job) -> VMTrace:
    return VMTrace(load_kernel("matmul_i8", params=job.params, inputs=job.inputs), interval=64)


@pytest.fixture(scope="module")
def vm(w3: Web3, contracts_built: None) -> VmStack:
    return deploy_vm_stack(w3, CONFIG)


@pytest.fixture(scope="module")
def stack(vm: VmStack) -> GameStack:
    """The VM stack wrapped for the shared game helpers (request, submit, challenge, play)."""
    c = vm.config
    config = StackConfig(level_lengths=(c.trace_length,), max_depths=(c.trace_depth,),
                         checkpoint_count=c.checkpoint_count, clock_seconds=c.clock_seconds,
                         challenge_window=c.challenge_window, submitter_bond=c.submitter_bond,
                         challenger_bond=c.challenger_bond, burn_bps=c.burn_bps, max_callback_gas=c.max_callback_gas,
                         max_input_bytes=c.max_input_bytes, model_fee=c.model_fee)
    names = ("admin", "requester", "submitter", "challenger", "challenger2", "other")
    errors = ErrorDecoder.from_abis(*(x.abi for x in (vm.registry, vm.game, vm.coordinator, vm.mips, vm.link,
                                                       vm.commitment)))
    return GameStack(vm.w3, config, vm.registry, vm.game, vm.coordinator, vm.commitment, vm.mips, [vm.link],
                     vm.model_id, errors, dict(zip(names, vm.w3.eth.accounts[: len(names)])))


def party(vm: VmStack, run: VMTrace, fault: VmLie | None = None, claimed_output: bytes | None = None
          ) -> VmRequestProvider:
    trace = VmLevel(run, vm.config.trace_length)
    own = VmRequestProvider(vm.model_roots, trace if fault is None else LyingVmLevel(trace, fault), M * N * 4)
    return own if claimed_output is None else LyingVmRequestProvider(own, claimed_output)


@dataclass
class Dispute:
    request_id: int
    game_id: int
    played: Played
    wall_s: float
    txs: int
    gas: int


def dispute(stack: GameStack, job: Job, submitter: VmRequestProvider, challenger: VmRequestProvider) -> Dispute:
    """Request → submit → challenge → play to the end; txs and gas count from the challenge on."""
    request_id, _ = request(stack, job.request_input)
    submit(stack, request_id, submitter)
    started = time.perf_counter()
    game_id, challenge_receipt = challenge(stack, request_id)
    played = play(stack, game_id, {Role.SUBMITTER: submitter, Role.CHALLENGER: challenger})
    wall = time.perf_counter() - started
    gas = int(challenge_receipt["gasUsed"]) + played.gas
    return Dispute(request_id, game_id, played, wall, 1 + len(played.receipts), gas)


def record(label: str, d: Dispute) -> None:
    print(f"\n[vm dispute] {label}: {d.txs} txs, {d.gas} gas, {d.wall_s:.2f} s wall "
          f"(challenge → resolution, moves {[type(a).__name__ for a in d.played.actions]})")


def mips_calls(w3: Web3, receipt, mips_address: str) -> list[dict]:
    """The calls to MIPS.stepFrom inside a transaction (from Anvil's call tracer)."""
    trace = w3.provider.make_request("debug_traceTransaction",
                                     [receipt["transactionHash"].to_0x_hex(), {"tracer": "callTracer"}])["result"]
    found, pending = [], [trace]
    while pending:
        call = pending.pop()
        if call.get("to", "").lower() == mips_address.lower() and call["input"].startswith("0x" + STEP_FROM.hex()):
            found.append(call)
        pending.extend(call.get("calls", []))
    return found


def assert_decided_by_mips(stack: GameStack, d: Dispute, honest: VmRequestProvider, submitter_wins: bool) -> None:
    """The game ended with a MIPS step over transition [lo, lo + 1] whose computed post is the honest S_{lo+1}."""
    final = d.played.final
    assert final.phase is (Phase.SUBMITTER_WON if submitter_wins else Phase.CHALLENGER_WON)
    assert final.hi - final.lo == 1
    step_receipt = d.played.receipts[-1]
    (stepped,) = events(stack.game.events.Stepped, step_receipt)
    assert stepped["preRoot"] == honest.vm.root_at(final.lo)
    assert stepped["computedPost"] == honest.vm.root_at(final.hi)
    assert (stepped["computedPost"] == stepped["claimedPost"]) is submitter_wins
    (call,) = mips_calls(stack.w3, step_receipt, stack.step_verifier.address)
    assert bytes.fromhex(call["output"][2:]) == honest.vm.root_at(final.hi)
    (resolved,) = events(stack.game.events.GameResolved, step_receipt)
    assert resolved["submitterWon"] is submitter_wins and not resolved["byTimeout"]


# -- the start of the trace is derived on chain ------------------------------------------------------------------
@pytest.mark.parametrize("seed,shape", [(1, (1, 1, 1)), (2, (3, 5, 4)), (3, (16, 33, 7)), (4, (40, 50, 30))])
def test_commit_input_is_the_kernels_initial_vm_state(vm: VmStack, seed: int, shape: tuple[int, int, int]) -> None:
    j = make_job(seed, *shape)
    on_chain = vm.commitment.functions.commitInput(vm.model_id, j.request_input).call()
    loaded = load_kernel("matmul_i8", params=j.params, inputs=j.inputs).hash()
    assert on_chain == initial_state_hash(code_root("matmul_i8"), j.params, j.inputs) == loaded


@pytest.mark.parametrize("kernel,fields", [
    ("add", (pack_params(0, 3, (3,)), b"\x01\x02\x03", b"\xff" * 3)),
    ("relu", (b"", b"\x80" * 100)),
    ("matmul_i8", (b"",)),
    ("matmul_i8", (b"p", *(bytes([i]) * (i * 37) for i in range(6)))),
])
def test_initial_state_agrees_for_any_code_and_inputs(vm: VmStack, kernel: str, fields: tuple[bytes, ...]) -> None:
    params, inputs = fields[0], fields[1:]
    root = code_root(kernel)
    on_chain = vm.commitment.functions.initialState(root, encode_kernel_input(params, inputs)).call()
    assert on_chain == initial_state_hash(root, params, inputs) == load_kernel(kernel, params=params,
                                                                               inputs=inputs).hash()


@pytest.mark.parametrize("size", [0, 1, 31, 64, 65, 1000, 4096])
def test_commit_output_is_the_output_region_root(vm: VmStack, size: int) -> None:
    output = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    state = load_kernel("matmul_i8", output=output)
    expected = state.memory.region_root(layout.OUTPUT.base, layout.OUTPUT.log2_size)
    assert vm.commitment.functions.commitOutput(vm.model_id, output).call() == output_commitment(output) == expected


@pytest.mark.parametrize("data,error", [
    (b"", "MalformedKernelInput"),
    (b"\x00\x00\x00\x05abcd", "MalformedKernelInput"),
    (b"\x00\x00\x00\x00\x00\x00", "MalformedKernelInput"),
    (b"\x00\x00\x00\x00" * 8, "TooManyInputs"),
    (b"\x00\x10\x00\x01", "RegionTooSmall"),
    (b"\x00\x00\x00\x00\x10\x00\x00\x01", "RegionTooSmall"),
])
def test_malformed_inputs_are_rejected_on_chain_and_off(stack: GameStack, data: bytes, error: str) -> None:
    with pytest.raises(Exception) as info:
        stack.commitment.functions.initialState(bytes(32), data).call()
    assert stack.errors.decode(_revert_bytes(info.value)).name == error
    with pytest.raises(KernelInputError):
        decode_kernel_input(data)


def _revert_bytes(exc: BaseException) -> bytes:
    data = getattr(exc, "data", None)
    return bytes.fromhex(str(data).removeprefix("0x")) if isinstance(data, str) else b""


def test_kernel_input_round_trips(job: Job) -> None:
    assert decode_kernel_input(job.request_input) == (job.params, job.inputs)


@pytest.mark.usefixtures("isolated_chain")
def test_the_request_anchors_the_initial_vm_state(stack: GameStack, vm: VmStack, job: Job,
                                                   honest_run: VMTrace) -> None:
    request_id, receipt = request(stack, job.request_input)
    (created,) = events(stack.coordinator.events.RequestCreated, receipt)
    honest = party(vm, honest_run)
    assert created["inputCommitment"] == honest_run.state_at(0).hash() == honest.vm.root_at(0)
    assert created["anchor"] == honest.root_at(0)
    print(f"\n[vm dispute] request with {len(job.request_input)} input bytes: {receipt['gasUsed']} gas")


# -- disputes --------------------------------------------------------------------------------------------------------
def test_the_honest_run_computes_the_product(vm: VmStack, honest_run: VMTrace, job: Job) -> None:
    honest = party(vm, honest_run)
    assert np.array_equal(np.frombuffer(honest.output, dtype="<i4").reshape(M, N), job.product)
    assert 100 < honest_run.final_step < vm.config.trace_length
    assert honest.vm.root_at(vm.config.trace_length) == honest_run.final_state().hash()


def _lie_steps(final_step: int) -> dict[str, int]:
    return {"first": 1, "middle": final_step // 2, "before_exit": final_step - 1, "exit": final_step}


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("where", ["first", "middle", "before_exit", "exit"])
def test_lying_submitter_loses_on_the_mips_step(stack: GameStack, vm: VmStack, job: Job, honest_run: VMTrace,
                                                where: str) -> None:
    at = _lie_steps(honest_run.final_step)[where]
    honest, liar = party(vm, honest_run), party(vm, honest_run, VmLie(at, layout.SCRATCH.base, b"\xa5"))
    d = dispute(stack, job, liar, honest)
    record(f"lying submitter at step {at} ({where})", d)
    assert not d.played.rejected
    assert (d.played.final.lo, d.played.final.hi) == (at - 1, at)
    assert_decided_by_mips(stack, d, honest, submitter_wins=False)
    (opened,) = events(stack.game.events.LevelOpened, d.played.receipts[0])
    assert opened["subStart"] == honest_run.state_at(0).hash()  # S_0 came from the anchor, derived on chain
    bond = stack.config.submitter_bond
    assert stack.coordinator.functions.balanceOf(stack.challenger).call() == \
        stack.config.challenger_bond + slash_share(bond, 1)


@pytest.mark.usefixtures("isolated_chain")
def test_forged_output_backed_by_a_forged_trace_loses_on_the_mips_step(stack: GameStack, vm: VmStack, job: Job,
                                                                      honest_run: VMTrace) -> None:
    honest = party(vm, honest_run)
    wrong = bytearray(honest.output)
    wrong[0] ^= 0x40  # C[0,0] off by 64
    at = honest_run.final_step
    liar = party(vm, honest_run, VmLie(at, layout.OUTPUT.base, bytes(wrong)), claimed_output=bytes(wrong))
    d = dispute(stack, job, liar, honest)
    record("forged output written at the exit step", d)
    assert not d.played.rejected  # the forged trace ends in the forged output, so the link check passes
    assert (d.played.final.lo, d.played.final.hi) == (at - 1, at)
    assert_decided_by_mips(stack, d, honest, submitter_wins=False)


@pytest.mark.usefixtures("isolated_chain")
def test_wrong_output_with_the_honest_trace_cannot_open_the_vm_level(stack: GameStack, vm: VmStack, job: Job,
                                                                     honest_run: VMTrace) -> None:
    honest = party(vm, honest_run)
    wrong = bytes([honest.output[0] ^ 1]) + honest.output[1:]
    liar = party(vm, honest_run, claimed_output=wrong)
    d = dispute(stack, job, liar, honest)
    ((action, revert),) = d.played.rejected
    assert revert.name == "LinkProofInvalid"
    assert stack.errors.decode(revert.arguments[0]).name == "OutputRootMismatch"
    assert d.played.final.phase is Phase.OPEN  # the submitter cannot move; its clock runs out
    advance_time(stack.w3, stack.config.clock_seconds + 1)
    receipt = send(stack, stack.game.functions.claimTimeout(d.game_id), stack.challenger)
    (resolved,) = events(stack.game.events.GameResolved, receipt)
    assert not resolved["submitterWon"] and resolved["byTimeout"]


@pytest.mark.usefixtures("isolated_chain")
def test_a_trace_of_other_inputs_loses_at_the_first_step(stack: GameStack, vm: VmStack, job: Job,
                                                         honest_run: VMTrace) -> None:
    """The submitter runs the kernel on inputs other than the request's: its S_0 is not the one the chain
    derived from the anchor, so the dispute ends at transition 0, stepped from the on-chain S_0."""
    other = make_job(99)
    other_run = VMTrace(load_kernel("matmul_i8", params=other.params, inputs=other.inputs), interval=64)
    honest = party(vm, honest_run)
    own = VmRequestProvider(vm.model_roots, VmLevel(other_run, vm.config.trace_length), M * N * 4)
    liar = LyingVmRequestProvider(own, input_commitment=honest_run.state_at(0).hash())  # the anchor's, from the chain
    d = dispute(stack, job, liar, honest)
    record("trace of other inputs", d)
    assert (d.played.final.lo, d.played.final.hi) == (0, 1)
    assert_decided_by_mips(stack, d, honest, submitter_wins=False)


@pytest.mark.usefixtures("isolated_chain")
def test_lying_challenger_loses_to_the_honest_submitter(stack: GameStack, vm: VmStack, job: Job,
                                                        honest_run: VMTrace) -> None:
    at = honest_run.final_step // 3
    honest, liar = party(vm, honest_run), party(vm, honest_run, VmLie(at, layout.SCRATCH.base, b"\x07"))
    d = dispute(stack, job, honest, liar)
    record(f"lying challenger at step {at}", d)
    assert (d.played.final.lo, d.played.final.hi) == (at - 1, at)
    assert_decided_by_mips(stack, d, honest, submitter_wins=True)
    # the liar, believing its own trace, executed the step that refuted it
    assert d.played.receipts[-1]["from"] == stack.challenger


# -- the link into the VM level rejects what does not hold ------------------------------------------------------
def _link_args(vm: VmStack, provider: VmRequestProvider, anchor: bytes, proof: bytes | None = None,
               length: int | None = None, sub_end: bytes | None = None) -> tuple[tuple, bytes]:
    """`verifyLink`'s arguments: the claim (a `Link`) and the proof."""
    claim = (anchor, 0, anchor, provider.root_at(1), sub_end or provider.trace_commitment(),
             length or vm.config.trace_length)
    return claim, proof if proof is not None else provider.open_next(0)[1]


def _link_error(stack: GameStack, args: tuple[tuple, bytes]) -> str:
    with pytest.raises(Exception) as info:
        stack.link_verifiers[0].functions.verifyLink(*args).call()
    return stack.errors.decode(_revert_bytes(info.value)).name


def test_the_vm_link_accepts_the_honest_opening(stack: GameStack, vm: VmStack, honest_run: VMTrace) -> None:
    honest = party(vm, honest_run)
    start, context = stack.link_verifiers[0].functions.verifyLink(*_link_args(vm, honest, honest.root_at(0))).call()
    assert start == honest_run.state_at(0).hash() and context == honest.root_at(0)


def test_the_vm_link_rejects_forged_openings(stack: GameStack, vm: VmStack, honest_run: VMTrace) -> None:
    honest = party(vm, honest_run)
    anchor = honest.root_at(0)
    assert _link_error(stack, _link_args(vm, honest, anchor, length=vm.config.trace_length // 2)) == "VmLengthMismatch"
    other_start = LyingVmRequestProvider(honest, input_commitment=bytes(32))
    assert _link_error(stack, _link_args(vm, honest, anchor, proof=other_start.open_next(0)[1])) == "AnchorMismatch"
    assert _link_error(stack, _link_args(vm, honest, anchor, sub_end=bytes(32))) == "FinalStateMismatch"
    running = honest_run.state_at(100)
    proof = link_proof(vm.model_roots, honest.input_commitment, running)
    assert _link_error(stack, _link_args(vm, honest, anchor, proof=proof, sub_end=running.hash())) == "VmDidNotExit"
    wrong = LyingVmRequestProvider(honest, claimed_output=b"\x01" + honest.output[1:])
    assert _link_error(stack, _link_args(vm, wrong, anchor)) == "OutputRootMismatch"


@pytest.mark.usefixtures("isolated_chain")
def test_a_request_of_four_kilobytes_is_committed_on_chain(stack: GameStack, vm: VmStack) -> None:
    j = make_job(11, 40, 50, 40)  # 2000 + 2000 input bytes: near the coordinator's 4096-byte limit
    assert len(j.request_input) <= stack.config.max_input_bytes
    gas = vm.commitment.functions.commitInput(vm.model_id, j.request_input).estimate_gas()
    request_id, receipt = request(stack, j.request_input)
    (created,) = events(stack.coordinator.events.RequestCreated, receipt)
    assert created["inputCommitment"] == load_kernel("matmul_i8", params=j.params, inputs=j.inputs).hash()
    print(f"\n[vm dispute] commitInput of {len(j.request_input)} bytes: {gas} gas; request {receipt['gasUsed']} gas")


def test_opml_demo_runs_to_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    from opml.cli import main

    assert main(["demo", "--kernel", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "MIPS.stepFrom executes it on chain" in out and "→ Bob (challenger) wins" in out
    assert "request #2 is finalized" in out and "Anvil stopped" in out
