"""The committed VM trace lengths (vm_depth, measured on an all-zero input with a factor-2 margin) hold on real
inputs: no MNIST digit needs a tile run longer than its node's VM trace; an over-tight plan is reported."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_levels_commitments import tiny_commitment, tiny_image

from opml.levels.commitments import commit_model
from opml.levels.tiling import tile_runs, tiles_over_budget
from opml.ml import executor
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT

MODELS = REPO_ROOT / "models"


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_mlp"])
def test_real_digits_fit_the_committed_vm_lengths(name: str) -> None:
    quantized = QuantizedModel.load(MODELS / f"{name}.opml")
    c = commit_model(quantized.model)
    with np.load(MODELS / "mnist_data.npz") as data:
        digits = [quantized.quantize_input(as_float_input(data["test_x"][i])) for i in (0, 999, 1999)]
    for digit in digits:
        values = executor.run(c.model, [digit]).values
        runs = tile_runs(c.model, values, c.plans)
        assert len(runs) == sum(p.tile_count for p in c.plans)
        assert tiles_over_budget(c.model, values, c.plans) == []
        assert all(2 * run.steps > c.plans[run.node].vm_length / 4 for run in runs), "the margin is not wasteful"


def test_an_over_tight_plan_is_reported() -> None:
    c = tiny_commitment()
    plans = tuple(replace(p, vm_depth=1) for p in c.plans)
    over = tiles_over_budget(c.model, executor.run(c.model, [tiny_image()]).values, plans)
    assert {(run.node, run.tile) for run in over} == {(k, t) for k, p in enumerate(plans) for t in range(p.tile_count)}
    assert all(run.steps > 2 for run in over)
