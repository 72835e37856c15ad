"""Driving the deployed `MIPS` contract from tests: one `eth_call` per step, reverts decoded to error names,
and the step-by-step comparison with the Python reference interpreter."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from opml.chain.contracts import revert_error_name
from opml.chain.tx import ContractRevert, revert_data
from opml.vm import interp
from opml.vm.isa import disassemble
from opml.vm.state import Status, VMState, decode_state

STEP = function_signature_to_4byte_selector("step(bytes,bytes)")
STEP_FROM = function_signature_to_4byte_selector("stepFrom(bytes32,bytes,bytes)")
STEP_STATE = function_signature_to_4byte_selector("stepState(bytes,bytes)")


@dataclass
class OnChainMips:
    """The deployed contract, called with pre-encoded calldata (much faster than web3's contract layer)."""

    w3: Web3
    contract: Contract

    def step(self, state: bytes, proof: bytes) -> bytes:
        """Post-state hash from `step(state, proof)`; raises ContractRevert named by the error."""
        return self._call(STEP + encode(["bytes", "bytes"], [state, proof]))

    def step_from(self, pre_hash: bytes, state: bytes, proof: bytes) -> bytes:
        return self._call(STEP_FROM + encode(["bytes32", "bytes", "bytes"], [pre_hash, state, proof]))

    def step_state(self, state: bytes, proof: bytes) -> bytes:
        """The contract's packed post-state (for diagnostics)."""
        raw = self._call(STEP_STATE + encode(["bytes", "bytes"], [state, proof]))
        return decode(["bytes"], raw)[0]

    def _call(self, data: bytes) -> bytes:
        try:
            return bytes(self.w3.eth.call({"to": self.contract.address, "data": Web3.to_hex(data)}))
        except ContractLogicError as exc:
            raise ContractRevert(revert_error_name(self.contract.abi, exc), (), revert_data(exc) or b"") from exc


def instruction_at(state: VMState) -> str:
    """Disassembly of the instruction the state executes next (or why there is none)."""
    if state.status != Status.RUNNING:
        return f"(no instruction: status {state.status.name})"
    if state.pc & 3:
        return f"(unaligned pc {state.pc:#010x})"
    return disassemble(state.memory.read_word(state.pc))


def check_steps(chain: OnChainMips, state: VMState, steps: int, label: str = "") -> None:
    """Step `state` `steps` times with the reference interpreter; after each step the contract's post-state
    hash from the witness must equal the interpreter's. The failure names the step and the instruction."""
    for i in range(steps):
        where = f"{label} step {i} (state step {state.step}) at pc {state.pc:#010x}: {instruction_at(state)}"
        witness = interp.step(state, witness=True)
        try:
            got = chain.step(witness.state, witness.proof)
        except ContractRevert as exc:
            raise AssertionError(f"{where}: contract reverted {exc.name}") from exc
        if got != state.hash():
            on_chain = chain.step_state(witness.state, witness.proof)
            raise AssertionError(f"{where}: post-states differ: {state_diff(on_chain, state.encode())}")


def state_diff(got: bytes, expected: bytes) -> str:
    """The fields in which two packed states differ, e.g. `regs[8]: contract 0x1 != Python 0x2`."""
    a, b = decode_state(got), decode_state(expected)
    diffs = []
    for name in ("mem_root", "pc", "next_pc", "lo", "hi", "step", "status", "exit_code"):
        if getattr(a, name) != getattr(b, name):
            diffs.append(f"{name}: contract {_show(getattr(a, name))} != Python {_show(getattr(b, name))}")
    diffs += [f"regs[{i}]: contract {x:#x} != Python {y:#x}"
              for i, (x, y) in enumerate(zip(a.regs, b.regs)) if x != y]
    return "; ".join(diffs) or "(packed states equal, hashes differ?)"


def _show(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else hex(value) if isinstance(value, int) else str(value)
