"""Adversarial figures: the attack scenarios of `tests/adversarial` (every test marked `attack`, each parametrized
case counted) run and repelled, and VM ≡ contract fuzzing at scale — at least 100,000 random-state MIPS steps,
each witness checked by the deployed contract (batched through the test-only `MipsBatch`), every post-state hash
compared with the reference interpreter's.

Figures: `adversarial_attacks_tested`, `adversarial_attacks_repelled` (equal when every attack fails),
`vm_contract_fuzz_steps`, `vm_contract_divergences` (must be 0), `vm_contract_fuzz_steps_per_s`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from opml.chain.anvil import Anvil
from opml.chain.build import ensure_built
from opml.chain.contracts import deploy

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
FUZZ_STEPS = 100_000
STATES_PER_CHUNK = 40
STEPS_PER_STATE = 8
FIRST_SEED = 1 << 40  # away from the seeds the test suite draws from


def attacks() -> dict[str, int]:
    """Runs every attack test; tested = cases run, repelled = cases passed (an attack that succeeded fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "attacks.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "attack",
                        f"--junitxml={report}", str(TESTS / "adversarial")], cwd=REPO, capture_output=True,
                       check=False)
        cases = ET.parse(report).getroot().iter("testcase")
        outcomes = [not any(child.tag in ("failure", "error", "skipped") for child in case) for case in cases]
    return {"adversarial_attacks_tested": len(outcomes), "adversarial_attacks_repelled": sum(outcomes)}


def _chunk(first_seed: int) -> list:
    sys.path[:0] = [str(TESTS)]
    from differential.vm_contract_fuzz import witnesses

    return [w for seed in range(first_seed, first_seed + STATES_PER_CHUNK) for w in witnesses(seed, STEPS_PER_STATE)]


def fuzz() -> dict[str, float | int]:
    """Random states' steps until at least FUZZ_STEPS were checked; witnesses built in two worker processes."""
    sys.path[:0] = [str(TESTS)]
    from differential.vm_contract_fuzz import check_batch

    ensure_built()
    steps, divergences, started = 0, [], time.perf_counter()
    with Anvil() as node, ProcessPoolExecutor(2) as pool:
        w3 = node.web3()
        harness = deploy(w3, "MipsBatch", deploy(w3, "MIPS").address).address
        seed = FIRST_SEED
        while steps < FUZZ_STEPS:
            chunks = [seed + i * STATES_PER_CHUNK for i in range(8)]
            seed += 8 * STATES_PER_CHUNK
            for batch in pool.map(_chunk, chunks):
                for i in range(0, len(batch), 200):
                    divergences += check_batch(w3, harness, batch[i:i + 200])
                steps += len(batch)
    if divergences:
        print("divergences:", *divergences[:10], sep="\n  ", file=sys.stderr)
    return {"vm_contract_fuzz_steps": steps, "vm_contract_divergences": len(divergences),
            "vm_contract_fuzz_steps_per_s": round(steps / (time.perf_counter() - started), 1)}


def run() -> dict[str, float | int]:
    return {**attacks(), **fuzz()}


if __name__ == "__main__":
    print(run())
