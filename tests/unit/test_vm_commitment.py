"""The VM level's commitments and trace provider, off chain: the Python twin of VmCommitment agrees with the ELF
loader, the link proof reconstructs the end state's memory root, and faults make exactly the roots from the
lie on differ. (The contract is held to the same values in tests/integration/test_vm_dispute.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from hypothesis import given, settings
from hypothesis import strategies as st

from opml.game.trace import LastLevel, TraceError
from opml.levels.kernel_level import (
    KernelInputError,
    VmRequestProvider,
    anchor_of,
    decode_kernel_input,
    encode_kernel_input,
    initial_memory_root,
    initial_state_hash,
    link_proof,
    output_commitment,
    output_siblings,
)
from opml.levels.vm_level import LyingVmLevel, VmLevel, VmLie
from opml.hashing import keccak
from opml.kernels import code_root, load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import layout
from opml.vm.snapshots import VMTrace
from opml.vm.state import Status
from opml.vm.replay import execute_witness

ROOTS = (keccak(b"graph"), keccak(b"constants"), code_root("matmul_i8"))
LENGTH = 1 << 10


@pytest.fixture(scope="module")
def run() -> VMTrace:
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(2, 3), dtype=np.int8)
    b = rng.integers(-128, 128, size=(3, 4), dtype=np.int8)
    return VMTrace(load_kernel("matmul_i8", params=pack_matmul_params(2, 3, 4), inputs=[a.tobytes(), b.tobytes()]),
                   interval=32)


@settings(max_examples=25, deadline=None)
@given(params=st.binary(max_size=200), inputs=st.lists(st.binary(max_size=300), max_size=layout.INPUT_COUNT))
def test_initial_state_hash_is_the_loaded_state(params: bytes, inputs: list[bytes]) -> None:
    state = load_kernel("matmul_i8", params=params, inputs=inputs)
    assert initial_memory_root(code_root("matmul_i8"), params, inputs) == state.memory.root()
    assert initial_state_hash(code_root("matmul_i8"), params, inputs) == state.hash()


@pytest.mark.parametrize("kernel", ["add", "relu", "conv2d", "softmax"])
def test_initial_state_hash_follows_the_code_root(kernel: str) -> None:
    inputs = [b"\x05" * 40, b"\xfa" * 70]
    assert initial_state_hash(code_root(kernel), b"\x01\x02", inputs) == \
        load_kernel(kernel, params=b"\x01\x02", inputs=inputs).hash()
    assert initial_state_hash(code_root(kernel), b"", []) != initial_state_hash(code_root("matmul_i8"), b"", [])


@settings(max_examples=25, deadline=None)
@given(params=st.binary(max_size=100), inputs=st.lists(st.binary(max_size=100), max_size=layout.INPUT_COUNT))
def test_kernel_input_round_trips(params: bytes, inputs: list[bytes]) -> None:
    assert decode_kernel_input(encode_kernel_input(params, inputs)) == (params, tuple(inputs))


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00", b"\x00\x00\x00\x02a", b"\x00\x00\x00\x00\x00",
                                  b"\x00\x00\x00\x00" * 8, b"\x00\x10\x00\x01"])
def test_malformed_kernel_inputs_are_rejected(data: bytes) -> None:
    with pytest.raises(KernelInputError):
        decode_kernel_input(data)


def test_too_many_inputs_cannot_be_encoded() -> None:
    with pytest.raises(KernelInputError, match="7 inputs"):
        encode_kernel_input(b"", [b""] * 7)


@pytest.mark.parametrize("size", [0, 1, 33, 128, 3000])
def test_output_commitment_is_the_output_region_root(size: int) -> None:
    output = bytes(range(256)) * (size // 256) + bytes(size % 256)
    state = load_kernel("relu", output=output)
    assert output_commitment(output) == state.memory.region_root(layout.OUTPUT.base, layout.OUTPUT.log2_size)


def test_link_proof_opens_to_the_end_state(run: VMTrace) -> None:
    vm = VmLevel(run, LENGTH)
    party = VmRequestProvider(ROOTS, vm, 2 * 4 * 4)
    sub, proof = party.open_next(0)
    graph, constants, kernels, start, end, siblings = abi_decode(
        ["bytes32", "bytes32", "bytes32", "bytes32", "bytes", "bytes32[4]"], proof)
    assert anchor_of((graph, constants, kernels), start) == party.root_at(0)
    assert start == sub.root_at(0) == run.state_at(0).hash()
    assert keccak(end) == sub.root_at(LENGTH) == party.trace_commitment()
    assert proof == link_proof(ROOTS, sub.root_at(0), run.final_state())
    node = party.root_at(1)  # the output commitment up the output region's path (index 8: left, left, left, right)
    for j, sibling in enumerate(siblings):
        node = keccak(sibling + node) if (8 >> j) & 1 else keccak(node + sibling)
    assert node == end[:32]
    assert list(siblings) == output_siblings(run.final_state())


def test_the_trace_is_padded_with_the_exited_state(run: VMTrace) -> None:
    vm = VmLevel(run, LENGTH)
    final = run.final_step
    assert vm.state_at(final).status == Status.EXITED
    assert vm.root_at(final) == vm.root_at(final + 1) == vm.root_at(LENGTH) != vm.root_at(final - 1)
    assert vm.step_witness(LENGTH - 1).proof_data == b""
    with pytest.raises(LastLevel):
        vm.open_next(0)


@pytest.mark.parametrize("fault", [VmLie(1, layout.SCRATCH.base, b"\x01"),
                                   VmLie(40, layout.OUTPUT.base + 4, b"\xff" * 4), VmLie(70, layout.STACK.base, b"\x5a")])
def test_a_lie_changes_every_root_from_its_step_on(run: VMTrace, fault: VmLie) -> None:
    honest = VmLevel(run, LENGTH)
    liar = LyingVmLevel(honest, fault)
    at = fault.at
    assert [liar.root_at(i) for i in range(at)] == [honest.root_at(i) for i in range(at)]
    assert liar.root_at(at) != honest.root_at(at)
    # the decisive step: from the agreed S_{at-1}, the witness computes the honest S_at, not the liar's
    witness = liar.step_witness(at - 1)
    assert keccak(execute_witness(witness.state_data, witness.proof_data)) == honest.root_at(at)


def test_a_persistent_lie_reaches_the_end(run: VMTrace) -> None:
    honest = VmLevel(run, LENGTH)
    liar = LyingVmLevel(honest, VmLie(run.final_step // 2, layout.SCRATCH.base, b"\x01"))
    assert liar.root_at(LENGTH) != honest.root_at(LENGTH)
    assert VmRequestProvider(ROOTS, liar, 32).output == VmRequestProvider(ROOTS, honest, 32).output


def test_every_step_witness_reproduces_the_next_root(run: VMTrace) -> None:
    vm = VmLevel(run, LENGTH)
    for k in range(0, run.final_step + 2, 7):
        witness = vm.step_witness(k)
        assert keccak(execute_witness(witness.state_data, witness.proof_data)) == vm.root_at(k + 1), f"step {k}"


def test_bad_lengths_and_lies_are_refused(run: VMTrace) -> None:
    with pytest.raises(TraceError, match="power of two"):
        VmLevel(run, 1000)
    with pytest.raises(TraceError, match="does not halt"):
        VmRequestProvider(ROOTS, VmLevel(run, 64), 8)
    for at in (0, LENGTH + 1):
        with pytest.raises(TraceError, match="outside"):
            LyingVmLevel(VmLevel(run, LENGTH), VmLie(at, layout.SCRATCH.base, b"\x01"))


def test_a_run_that_faults_has_no_output_to_claim() -> None:
    broken = VMTrace(load_kernel("matmul_i8", params=pack_matmul_params(2, 3, 4, first_out=9, end_out=1)), interval=32)
    party = VmRequestProvider(ROOTS, VmLevel(broken, LENGTH), 8)
    assert broken.final_state().exit_code != 0
    with pytest.raises(TraceError, match="no output"):
        party.claim_preimage(1)
