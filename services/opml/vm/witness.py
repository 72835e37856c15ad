"""Step witnesses: the packed pre-state and the memory proofs the on-chain step takes (docs/vm.md "Step witness").

proofData = fetch proof for pc (iff running and pc word aligned)
          ‖ data proof for the effective address (iff the instruction is a load/store reaching memory).

`opml.vm.replay.execute_witness` recomputes a step from a witness alone, as the contract does.
"""

from __future__ import annotations

from dataclasses import dataclass

from opml.vm.isa import data_address
from opml.vm.memory import MemoryProofError, proof_length
from opml.vm.state import Status, VMState


@dataclass(frozen=True)
class Witness:
    """`state`: 186-byte packed pre-state; `proof`: proofData exactly as the contract's `step` takes it."""

    state: bytes
    proof: bytes

    def proofs(self) -> list[bytes]:
        """The individual memory proofs inside `proof` (0, 1 or 2 of them)."""
        return split_proofs(self.proof)


def build_witness(state: VMState) -> Witness:
    """The witness for executing one step from `state` (which is not modified)."""
    packed = state.encode()
    if state.status != Status.RUNNING or state.pc & 3:
        return Witness(packed, b"")
    memory = state.memory
    proof = memory.proof(state.pc)
    address = data_address(memory.read_word(state.pc), state.regs)
    if address is not None:
        proof += memory.proof(address)
    return Witness(packed, proof)


def split_proofs(proof_data: bytes) -> list[bytes]:
    """Split concatenated compact memory proofs; raises MemoryProofError on a truncated one."""
    proofs, offset = [], 0
    while offset < len(proof_data):
        length = proof_length(proof_data, offset)
        if offset + length > len(proof_data):
            raise MemoryProofError(f"proof at byte {offset} needs {length} bytes, only {len(proof_data) - offset} left")
        proofs.append(bytes(proof_data[offset : offset + length]))
        offset += length
    return proofs
