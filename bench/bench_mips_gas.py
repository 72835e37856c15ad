"""Gas of one on-chain MIPS step: receipt `gasUsed` of direct transactions to `MIPS.step` on Anvil (default
hardfork, automine), over evenly spaced steps of a real kernel run (matmul_i8).

The figure is per transaction: the 21k base, calldata (under EIP-7623 floor pricing when that is higher) and
execution. `alu` steps carry one memory proof (fetch), `mem` steps two (fetch + data).
"""

from __future__ import annotations

import statistics

import numpy as np
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from opml.chain.anvil import Anvil
from opml.chain.contracts import deploy
from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import interp
from opml.vm.fast import run_fast
from opml.vm.state import Status, VMState
from opml.vm.witness import Witness

SHAPE = (16, 32, 16)  # matmul_i8 m, k, n: about 53k steps
SAMPLES = 300
GAS_LIMIT = 1_000_000
STEP = function_signature_to_4byte_selector("step(bytes,bytes)")


def _kernel_state() -> VMState:
    rng = np.random.default_rng(0)
    m, k, n = SHAPE
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(m, k, n), inputs=[a.tobytes(), b.tobytes()])


def sampled_witnesses(state: VMState, samples: int) -> list[tuple[Witness, bytes]]:
    """(witness, post-state hash) of `samples` evenly spaced steps of the run from `state` (stepped by the
    reference VM)."""
    total = run_fast(state.copy())
    wanted = {round(i * (total - 1) / (samples - 1)) for i in range(samples)}
    sampled = []
    for index in range(total):
        if index in wanted:
            witness = interp.step(state, witness=True)
            sampled.append((witness, state.hash()))
        else:
            interp.step(state)
    assert state.status == Status.EXITED, f"kernel did not exit cleanly: {state}"
    return sampled


def _step_gas(w3, address: str, sender: str, witness: Witness, post_hash: bytes) -> int:
    """gasUsed of a `step` transaction, after checking by eth_call that it computes the reference post-state."""
    data = STEP + encode(["bytes", "bytes"], [witness.state, witness.proof])
    if bytes(w3.eth.call({"to": address, "data": data})) != post_hash:
        raise RuntimeError(f"MIPS.step disagrees with the reference VM on pre-state {witness.state.hex()}")
    tx = w3.eth.send_transaction({"from": sender, "to": address, "data": data, "gas": GAS_LIMIT})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt["status"] != 1:
        raise RuntimeError(f"step transaction reverted (tx {tx.hex()})")
    return int(receipt["gasUsed"])


def run() -> dict[str, float | int]:
    sampled = sampled_witnesses(_kernel_state(), SAMPLES)
    witnesses = [w for w, _ in sampled]
    with Anvil() as node:
        w3 = node.web3()
        mips = deploy(w3, "MIPS")
        sender = w3.eth.accounts[0]
        gas = [(_step_gas(w3, mips.address, sender, w, post), w) for w, post in sampled]
    alu = [g for g, w in gas if len(w.proofs()) == 1]
    mem = [g for g, w in gas if len(w.proofs()) == 2]
    calldata = [len(w.state) + len(w.proof) for w in witnesses]
    return {
        "mips_step_gas_median": int(statistics.median(g for g, _ in gas)),
        "mips_step_gas_max": max(g for g, _ in gas),
        "mips_step_gas_alu_median": int(statistics.median(alu)) if alu else 0,
        "mips_step_gas_mem_median": int(statistics.median(mem)) if mem else 0,
        "mips_step_witness_bytes_median": int(statistics.median(calldata)),
        "mips_step_samples": len(gas),
    }


if __name__ == "__main__":
    print(run())
