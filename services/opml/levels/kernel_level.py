"""A single-kernel request (no model graph): the request level above one VM level (`opml.levels.vm_level`).

Request level (`VmRequestProvider`): one transition from the request's anchor to the output commitment, opened
into the VM level through `VmLinkVerifier` (contracts/VmCommitment.sol). S_0 of the VM level is not trusted: it
is the request's input commitment, which `VmCommitment.commitInput` computes on chain from the request bytes as
the kernel's initial VM state hash. The Python twins of those contract functions live here too (on top of
`opml.kernels.vmstart`, the memory-tree arithmetic the ML levels share); the tests hold the two to the same bytes.

`VmRequestProvider` is honest about the VM level it is given. A lying party's levels wrap the honest ones from
outside: its VM level is a `LyingVmLevel` (the one VM lie, `VmLie`), and `LyingVmRequestProvider` claims an output
its own trace does not end in or an input commitment other than the chain's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import cached_property

from eth_abi import encode as abi_encode

from opml.game.trace import NotLastLevel, StepWitness, TraceError, TraceProvider, check_root_index, check_transition
from opml.kernels import vmstart
from opml.kernels.vmstart import output_siblings
from opml.levels.commitments import anchor_of as anchor
from opml.vm import layout
from opml.vm.memory import region_root_of_bytes
from opml.vm.state import Status, VMState

from .vm_level import VmLevel


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


# -- the request level ------------------------------------------------------------------------------------------------
class VmRequestProvider(TraceProvider):
    """The request level above a VM level: S_0 = the request's anchor, S_1 = the output commitment of the output
    region of the VM level's end state (`output_size` bytes); transition 0 opens the VM level with a `VmLinkVerifier`
    proof. `input_commitment` (the VM level's S_0) is the request's input commitment in the anchor's preimage."""

    length = 1
    is_last_level = False

    def __init__(self, model_roots: Sequence[bytes], vm: VmLevel, output_size: int) -> None:
        if len(model_roots) != 3 or any(len(r) != 32 for r in model_roots):
            raise TraceError("model_roots must be (graphRoot, constantsRoot, kernelSetRoot), 32 bytes each")
        if not vm.halted:
            raise TraceError(f"the kernel run does not halt within {vm.length} steps (stopped at {vm.final_step})")
        self.model_roots = tuple(bytes(r) for r in model_roots)
        self.vm = vm
        self.output_size = output_size
        self.input_commitment = vm.root_at(0)

    @cached_property
    def output(self) -> bytes:
        """The output bytes this party submits (or would)."""
        end = self.vm.final_state
        if end.status != Status.EXITED or end.exit_code != 0:
            raise TraceError(f"the kernel run ends {end.status.name} with code {end.exit_code}: no output to claim")
        return end.memory.read_bytes(layout.OUTPUT.base, self.output_size)

    def root_at(self, i: int) -> bytes:
        check_root_index(1, i)
        if i == 0:
            return anchor_of(self.model_roots, self.input_commitment)
        return output_commitment(self.output)

    def open_next(self, k: int) -> tuple[VmLevel, bytes]:
        check_transition(1, k)
        return self.vm, link_proof(self.model_roots, self.input_commitment, self.vm.final_state)

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


class LyingVmRequestProvider(VmRequestProvider):
    """`honest` with a lying party's claims laid over it: `claimed_output` (None: the honest one) is an output its
    trace need not end in (the link check then rejects its opening); `input_commitment` (None: the VM level's S_0)
    is the input commitment it puts in the anchor's preimage, so a party whose run starts elsewhere can still open
    the level, but from the chain's S_0."""

    def __init__(self, honest: VmRequestProvider, claimed_output: bytes | None = None,
                 input_commitment: bytes | None = None) -> None:
        super().__init__(honest.model_roots, honest.vm, honest.output_size)
        self.honest = honest
        self.claimed_output = claimed_output
        if input_commitment is not None:
            self.input_commitment = input_commitment

    @property
    def output(self) -> bytes:
        return self.honest.output if self.claimed_output is None else self.claimed_output
