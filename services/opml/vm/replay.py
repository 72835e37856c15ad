"""One step recomputed from its witness alone (the packed pre-state and the memory proofs), as the on-chain `MIPS`
contract computes it (docs/vm.md "Step witness"): the proof that witnesses are complete, and a Python model of the
contract's accept/reject behaviour.
"""

from __future__ import annotations

from opml.vm.interp import run
from opml.vm.isa import data_address
from opml.vm.memory import MemoryProofError, proof_length, root_after_write, verify_proof
from opml.vm.state import StateHeader, Status, VMState, decode_state


class WitnessError(ValueError):
    """A witness the contract would reject."""


class InvalidProofLength(WitnessError):
    """proofData is shorter or longer than the proofs the step needs."""


class InvalidMemoryProof(WitnessError):
    """A memory proof does not verify against the pre-state's memRoot."""


def execute_witness(state_data: bytes, proof_data: bytes) -> bytes:
    """The packed post-state computed from the packed pre-state and the proofs only (no other memory).

    Mirrors the contract's `step`: raises InvalidState, InvalidProofLength or InvalidMemoryProof where it
    reverts. `keccak(execute_witness(w.state, w.proof))` is the hash the contract returns.
    """
    header = decode_state(state_data)
    if header.status != Status.RUNNING or header.pc & 3:
        _expect_end(proof_data, 0)
        if header.status != Status.RUNNING:
            return bytes(state_data)
    scratch = VMState(header.pc, header.next_pc, header.lo, header.hi, header.step, header.status, 0,
                      list(header.regs))
    if header.pc & 3:
        run(scratch, 1)  # faults UNALIGNED_FETCH without touching memory
        return _repack(scratch, header.mem_root)
    fetch_leaf, offset = _take_proof(header.mem_root, header.pc, proof_data, 0)
    scratch.memory.write_bytes(header.pc & ~31, fetch_leaf)
    word = scratch.memory.read_word(header.pc)
    address = data_address(word, header.regs)
    data_proof = None
    if address is not None:
        data_leaf, end = _take_proof(header.mem_root, address, proof_data, offset)
        data_proof, offset = proof_data[offset:end], end
        scratch.memory.write_bytes(address & ~31, data_leaf)
    _expect_end(proof_data, offset)
    run(scratch, 1)
    root = header.mem_root
    if data_proof is not None:
        new_leaf = scratch.memory.read_bytes(address & ~31, 32)
        if new_leaf != data_proof[:32]:
            root = root_after_write(address, data_proof, new_leaf)
    return _repack(scratch, root)


def _take_proof(root: bytes, address: int, proof_data: bytes, offset: int) -> tuple[bytes, int]:
    """(verified leaf, end offset) of the proof for `address` starting at `offset`."""
    try:
        end = offset + proof_length(proof_data, offset)
    except MemoryProofError as exc:
        raise InvalidProofLength(str(exc)) from exc
    if end > len(proof_data):
        raise InvalidProofLength(f"proof for {address:#010x} needs {end - offset} bytes from {offset}, "
                                 f"proofData has {len(proof_data)}")
    try:
        return verify_proof(root, address, proof_data[offset:end]), end
    except MemoryProofError as exc:
        raise InvalidMemoryProof(str(exc)) from exc


def _expect_end(proof_data: bytes, offset: int) -> None:
    if len(proof_data) != offset:
        raise InvalidProofLength(f"proofData has {len(proof_data)} bytes, the step uses {offset}")


def _repack(scratch: VMState, mem_root: bytes) -> bytes:
    return StateHeader(mem_root, scratch.pc, scratch.next_pc, scratch.lo, scratch.hi, scratch.step,
                       scratch.status, scratch.exit_code, tuple(scratch.regs)).encode()
