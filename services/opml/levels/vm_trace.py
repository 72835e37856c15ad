"""The VM level of the dispute game: the trace of one MIPS kernel run, and the request level above it.

VM level (`VmTraceProvider`): S_i = keccak of the packed VM state after i steps of the kernel run, for
0 <= i <= length (a fixed power of two >= the halting step; past the halt the exited state repeats). Transition
k is executed on chain by the `MIPS` contract from `step_witness(k)`.

Request level (`VmRequestProvider`): one transition from the request's anchor to the output commitment, opened
into the VM level through `VmLinkVerifier` (contracts/VmCommitment.sol). S_0 of the VM level is not trusted: it
is the request's input commitment, which `VmCommitment.commitInput` computes on chain from the request bytes as
the kernel's initial VM state hash. The Python twins of those contract functions live here too (on top of
`opml.kernels.vmstart`, the memory-tree arithmetic the ML levels share); the tests hold the two to the same bytes.

Faults: a lying party (submitter or challenger) tampers with its state at step `at` (so S_at is its first wrong
root) and computes honestly on from the tampered state.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from eth_abi import encode as abi_encode

from opml.kernels import vmstart
from opml.kernels.vmstart import output_siblings
from opml.levels.commitments import anchor_of as anchor
from opml.vm import layout
from opml.vm.memory import region_root_of_bytes
from opml.vm.snapshots import VMTrace
from opml.vm.state import Status, VMState

from opml.game.trace import LastLevel, NotLastLevel, StepWitness, TraceError, check_root_index, check_transition, \
    is_power_of_two

_LENGTH = struct.Struct(">I")


class KernelInputError(ValueError):
    """Request bytes that VmCommitment rejects (truncated field, too many inputs, a field too big for its region)."""


# -- the request input (twin of VmCommitment's parser) ------------------------------------------------------------
def encode_kernel_input(params: bytes, inputs: Sequence[bytes]) -> bytes:
    """Request bytes for a kernel run: len(params) ‖ params ‖ (len(input_i) ‖ input_i)…; lengths are big-endian
    u32."""
    if len(inputs) > layout.INPUT_COUNT:
        raise KernelInputError(f"{len(inputs)} inputs, the memory map has {layout.INPUT_COUNT} input regions")
    _check_fits(params, layout.PARAMS)
    for data, region in zip(inputs, layout.INPUTS):
        _check_fits(data, region)
    return b"".join(_LENGTH.pack(len(field)) + bytes(field) for field in (params, *inputs))


def decode_kernel_input(data: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """(params, inputs) from request bytes; KernelInputError where VmCommitment reverts."""
    fields, offset = [], 0
    while offset < len(data) or not fields:
        if len(fields) > layout.INPUT_COUNT:
            raise KernelInputError(f"more than {layout.INPUT_COUNT} input tensors")
        if len(data) < offset + 4:
            raise KernelInputError(f"truncated length at byte {offset}")
        (length,) = _LENGTH.unpack_from(data, offset)
        region = layout.PARAMS if not fields else layout.INPUTS[len(fields) - 1]
        if length > region.size:
            raise KernelInputError(f"field at byte {offset} claims {length} bytes, region {region.name} holds "
                                   f"{region.size}")
        if len(data) < offset + 4 + length:
            raise KernelInputError(f"field at byte {offset} needs {length} bytes, {len(data) - offset - 4} left")
        fields.append(bytes(data[offset + 4: offset + 4 + length]))
        offset += 4 + length
    return fields[0], tuple(fields[1:])


def _check_fits(data: bytes, region: layout.Region) -> None:
    if len(data) > region.size:
        raise KernelInputError(f"{len(data)} bytes do not fit region {region.name} ({region.size} bytes)")


# -- commitments (twins of VmCommitment / VmLinkVerifier; the memory-tree arithmetic is opml.kernels.vmstart) --------
def initial_memory_root(code_root: bytes, params: bytes, inputs: Sequence[bytes]) -> bytes:
    """Memory root of a kernel's initial state from its code region root, params and input bytes; every other
    region (output, scratch, stack) is empty."""
    if len(inputs) > layout.INPUT_COUNT:
        raise KernelInputError(f"{len(inputs)} inputs, the memory map has {layout.INPUT_COUNT} input regions")
    input_roots = [region_root_of_bytes(data, region.log2_size) for data, region in zip(inputs, layout.INPUTS)]
    return vmstart.initial_memory_root(code_root, region_root_of_bytes(params, layout.PARAMS.log2_size), input_roots)


def initial_state_hash(code_root: bytes, params: bytes, inputs: Sequence[bytes]) -> bytes:
    """The kernel's initial VM state hash as the ELF loader leaves it (pc at the code base, $sp at the stack top):
    what `VmCommitment.commitInput` returns for the encoded input."""
    return vmstart.initial_state_header(initial_memory_root(code_root, params, inputs)).hash()


def output_commitment(output: bytes) -> bytes:
    """Root of the output region holding `output` (what `VmCommitment.commitOutput` returns)."""
    return region_root_of_bytes(output, layout.OUTPUT.log2_size)


def anchor_of(model_roots: Sequence[bytes], input_commitment: bytes) -> bytes:
    """keccak256(abi.encode(graphRoot, constantsRoot, kernelSetRoot, inputCommitment)) (docs/game.md)."""
    return anchor(*model_roots, input_commitment)


def link_proof(model_roots: Sequence[bytes], input_commitment: bytes, end: VMState) -> bytes:
    """The `VmLinkVerifier` proof opening the VM level: the anchor's preimage, the packed end state and the
    output region's siblings."""
    return abi_encode(["bytes32", "bytes32", "bytes32", "bytes32", "bytes", "bytes32[4]"],
                      [*model_roots, input_commitment, end.encode(), output_siblings(end)])


# -- faults ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegisterLie:
    """From step `at` on, register `reg` holds `value ^ xor` instead of its honest value (the party computes on
    from there). The default register, $k1, is never written by kernels, so the lie persists to the end."""

    at: int
    reg: int = 27
    xor: int = 0x1

    def apply(self, state: VMState) -> None:
        if not 1 <= self.reg < 32:
            raise TraceError(f"register {self.reg} cannot hold a lie ($0 is always zero)")
        state.regs[self.reg] ^= self.xor


@dataclass(frozen=True)
class MemoryLie:
    """From step `at` on, the bytes at `address` are `data` (e.g. a forged output written into the output region)."""

    at: int
    address: int
    data: bytes

    def apply(self, state: VMState) -> None:
        state.memory.write_bytes(self.address, self.data)


VmFault = RegisterLie | MemoryLie


# -- the VM level -----------------------------------------------------------------------------------------------------
class VmTraceProvider:
    """One party's VM-level trace of a kernel run: honest, or lying from `fault.at` on.

    `honest` is the recorded honest run (shared between parties; the provider never changes it); `length` the
    trace length every party uses (VmLinkVerifier's `traceLength`).
    """

    is_last_level = True

    def __init__(self, honest: VMTrace, length: int, fault: VmFault | None = None, interval: int = 256) -> None:
        if not is_power_of_two(length):
            raise TraceError(f"VM trace length {length} is not a power of two")
        if not honest.halted or honest.final_step > length:
            raise TraceError(f"the kernel run does not halt within {length} steps (stopped at {honest.final_step})")
        if fault is not None and not 1 <= fault.at <= length:
            raise TraceError(f"a lie at step {fault.at} is outside 1..{length}")
        self.honest = honest
        self.fault = fault
        self._length = length
        self._interval = interval
        self._roots: dict[int, bytes] = {}

    @property
    def length(self) -> int:
        return self._length

    @cached_property
    def _liar(self) -> VMTrace | None:
        """The tampered run, counted from step `fault.at` (its S_0 is this party's S_at)."""
        if self.fault is None:
            return None
        tampered = self.honest.state_at(self.fault.at)
        self.fault.apply(tampered)
        return VMTrace(tampered, interval=self._interval, max_steps=self._length - self.fault.at)

    def _trace_for(self, i: int) -> tuple[VMTrace, int]:
        """The recorded run holding S_i and the index of S_i in it."""
        if self._liar is not None and i >= self.fault.at:
            return self._liar, i - self.fault.at
        return self.honest, i

    def state_at(self, i: int) -> VMState:
        """This party's S_i as a full VM state (a copy)."""
        check_root_index(self._length, i)
        trace, n = self._trace_for(i)
        return trace.state_at(n)

    def end_state(self) -> VMState:
        """S_length: the state this party claims the run ends in."""
        return self.state_at(self._length)

    def root_at(self, i: int) -> bytes:
        root = self._roots.get(i)
        if root is None:
            root = self._roots[i] = self.state_at(i).hash()
        return root

    def open_next(self, k: int) -> tuple[VmTraceProvider, bytes]:
        raise LastLevel(f"the VM level is the last level; transition {k} is proven by one MIPS step")

    def step_witness(self, k: int) -> StepWitness:
        check_transition(self._length, k)
        trace, n = self._trace_for(k)
        witness = trace.witness_at(n)
        return StepWitness(witness.state, witness.proof)


# -- the request level ------------------------------------------------------------------------------------------------
class VmRequestProvider:
    """The request level above a VM level: S_0 = the request's anchor, S_1 = the output commitment of the output
    this party claims; transition 0 opens the VM level with a `VmLinkVerifier` proof.

    `claimed_output` (default: the output region of the VM level's end state, `output_size` bytes) lets a party
    claim an output its own trace does not end in (the link check then rejects its opening). `input_commitment`
    (default: the VM level's S_0) is the request's input commitment as the party puts it in the anchor's
    preimage; a party whose run starts elsewhere can still open the level, but from the chain's S_0.
    """

    length = 1
    is_last_level = False

    def __init__(self, model_roots: Sequence[bytes], vm: VmTraceProvider, output_size: int,
                 claimed_output: bytes | None = None, input_commitment: bytes | None = None) -> None:
        if len(model_roots) != 3 or any(len(r) != 32 for r in model_roots):
            raise TraceError("model_roots must be (graphRoot, constantsRoot, kernelSetRoot), 32 bytes each")
        self.model_roots = tuple(bytes(r) for r in model_roots)
        self.vm = vm
        self.output_size = output_size
        self._claimed_output = claimed_output
        self.input_commitment = vm.root_at(0) if input_commitment is None else input_commitment

    @cached_property
    def output(self) -> bytes:
        """The output bytes this party submits (or would)."""
        if self._claimed_output is not None:
            return self._claimed_output
        end = self.vm.end_state()
        if end.status != Status.EXITED or end.exit_code != 0:
            raise TraceError(f"the kernel run ends {end.status.name} with code {end.exit_code}: no output to claim")
        return end.memory.read_bytes(layout.OUTPUT.base, self.output_size)

    def root_at(self, i: int) -> bytes:
        check_root_index(1, i)
        if i == 0:
            return anchor_of(self.model_roots, self.input_commitment)
        return output_commitment(self.output)

    def open_next(self, k: int) -> tuple[VmTraceProvider, bytes]:
        check_transition(1, k)
        return self.vm, link_proof(self.model_roots, self.input_commitment, self.vm.end_state())

    def step_witness(self, k: int) -> StepWitness:
        raise NotLastLevel("the request level opens the VM level; it has no step")

    def claim_preimage(self, i: int) -> bytes:
        """The output bytes whose commitment is S_1 (what `Coordinator.submit` takes)."""
        if i != 1:
            raise TraceError("only S_1 (the output commitment) has a preimage at the request level")
        return self.output

    def trace_commitment(self) -> bytes:
        """The VM level's end root: the `traceCommitment` posted with the result."""
        return self.vm.root_at(self.vm.length)
