"""VM ≡ contract fuzzing in bulk: random running states (`test_mips_contract.random_state`) stepped a few times by
the reference interpreter, every step's witness checked by the deployed `MIPS` contract, many steps per `eth_call`
through the test-only `MipsBatch` harness. Used by `test_vm_contract_fuzz.py` (a few thousand steps per run) and
`bench/bench_adversarial.py` (≥ 100,000)."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from opml.vm import interp
from opml.vm.state import Status

from differential.mips_onchain import instruction_at
from differential.test_mips_contract import random_state

STEP_MANY = function_signature_to_4byte_selector("stepMany(bytes[],bytes[])")
CALL_GAS = 1_000_000_000


@dataclass
class FuzzResult:
    steps: int = 0
    divergences: list[str] = field(default_factory=list)


def witnesses(seed: int, steps: int) -> list[tuple[bytes, bytes, bytes, str]]:
    """(packed pre-state, proof, Python post-state hash, what it was) for `steps` steps from random state `seed`
    (fewer once the state halts: a halted state's step is checked once)."""
    state = random_state(seed)
    out = []
    for i in range(steps):
        where = f"seed {seed} step {i} at pc {state.pc:#010x}: {instruction_at(state)}"
        halted = state.status != Status.RUNNING
        witness = interp.step(state, witness=True)
        out.append((witness.state, witness.proof, state.hash(), where))
        if halted:
            break
    return out


def check_batch(w3: Web3, harness: str, batch: list[tuple[bytes, bytes, bytes, str]]) -> list[str]:
    """The divergences of one batch: steps whose contract post-state hash is not Python's (or that reverted)."""
    data = STEP_MANY + encode(["bytes[]", "bytes[]"], [[b[0] for b in batch], [b[1] for b in batch]])
    raw = w3.eth.call({"to": harness, "data": Web3.to_hex(data), "gas": CALL_GAS})
    (posts,) = decode(["bytes32[]"], raw)
    return [f"{where}: contract {bytes(got).hex() or 'reverted'}, Python {want.hex()}"
            for got, (_, _, want, where) in zip(posts, batch) if bytes(got) != want]


def fuzz(w3: Web3, harness: str, seeds: range, steps_per_state: int = 3, batch_size: int = 96) -> FuzzResult:
    """Steps from every seed's random state, checked by the contract in batches."""
    result, batch = FuzzResult(), []
    for seed in seeds:
        batch += witnesses(seed, steps_per_state)
        if len(batch) >= batch_size:
            result.divergences += check_batch(w3, harness, batch)
            result.steps += len(batch)
            batch = []
    if batch:
        result.divergences += check_batch(w3, harness, batch)
        result.steps += len(batch)
    return result
