"""VM ≡ contract fuzzing: at least 2,000 random-state steps per run, batched through `MipsBatch`; the contract's
post-state hash of every step must be the reference interpreter's. The seeds differ every run (the start is
printed in any failure; `OPML_FUZZ_SEED=N` reproduces a run)."""

from __future__ import annotations

import os
import random

import pytest
from web3 import Web3
from web3.contract import Contract

from opml.chain.contracts import deploy

from differential.vm_contract_fuzz import fuzz

STATES = 800  # x 3 steps: about 2,300 steps per run (a halted state is stepped once)
MIN_STEPS = 2_000


@pytest.fixture(scope="module")
def harness(w3: Web3, mips: Contract) -> str:
    return deploy(w3, "MipsBatch", mips.address).address


def test_random_states_step_the_same_on_chain(w3: Web3, harness: str) -> None:
    start = int(os.environ.get("OPML_FUZZ_SEED", random.randrange(2**48)))
    result = fuzz(w3, harness, range(start, start + STATES))
    assert result.steps >= MIN_STEPS, f"seed {start}: only {result.steps} steps"
    assert not result.divergences, f"seed {start}: {len(result.divergences)} divergences: {result.divergences[:5]}"


def test_a_wrong_post_state_is_reported(w3: Web3, harness: str) -> None:
    from differential.vm_contract_fuzz import check_batch, witnesses

    batch = witnesses(7, 2)
    state, proof, want, where = batch[0]
    assert check_batch(w3, harness, batch) == []
    tampered = [(state, proof, bytes(32 - len(b"x")) + b"x", where), (state[:-1], proof, want, where)]
    assert len(check_batch(w3, harness, tampered)) == 2  # a wrong hash and a reverting (malformed) state
