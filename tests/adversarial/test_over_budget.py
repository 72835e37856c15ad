"""Attack: an input on which some tile's VM run would not halt within the committed trace length (the plan's
factor-2 margin is measured, not proven). An honest submitter that posted such a result could not open those
tiles and would be slashed; it checks the budget (`tiles_over_budget`) before submitting and refuses, logged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from opml.paths import REPO_ROOT
from opml.levels.commitments import ModelCommitment, tensor_commitment
from opml.node.backends import RequestInput
from opml.node.ml_backend import MlBackend

pytestmark = pytest.mark.attack


def test_over_budget_result_is_refused_by_the_honest_submitter() -> None:
    backend = MlBackend(REPO_ROOT / "models" / "mnist_mlp.opml")
    data = np.random.default_rng(5).integers(-128, 128, size=784, dtype=np.int8).tobytes()
    ask = RequestInput(1, 1, data, backend.commitment.anchor(tensor_commitment(data)))
    assert backend.claim(ask).refusal() is None  # the committed plan fits this input
    # a plan whose VM traces are far shorter than the runs: as if the input made every tile run long
    tight = ModelCommitment(backend.commitment.model, tuple(replace(p, vm_depth=4) for p in backend.commitment.plans))
    backend.commitment = tight
    refusal = backend.claim(replace(ask, anchor=tight.anchor(tensor_commitment(data)))).refusal()
    assert refusal is not None and "over the VM step budget" in refusal and "node 0 tile 0" in refusal
