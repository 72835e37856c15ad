"""The node's budget check (`tile_runs`: one VM image per node, rewound between tiles) == a fresh VM state per
tile (`run_node` chained through `output_before`, what the tile level plays): the same step count for every
tile and the same output, on real digits, extreme inputs and both shipped models."""

from __future__ import annotations

import numpy as np
import pytest

from opml.levels.tiling import plan_model, tile_runs
from opml.ml import executor
from opml.ml.accuracy import as_float_input
from opml.ml.errors import MLError
from opml.ml.scales import QuantizedModel
from opml.ml.vmrun import VMRunError, run_node, tile_steps
from opml.paths import REPO_ROOT
from opml.vm.fast import FastMachine

MODELS = REPO_ROOT / "models"


def fresh_runs(model, values, plans) -> list[tuple[int, int, int]]:
    """(node, tile, steps) of every tile, each run from a freshly loaded kernel."""
    runs = []
    for index, (node, plan) in enumerate(zip(model.nodes, plans)):
        ins, output = [values[s] for s in node.inputs], None
        for t in range(plan.tile_count):
            run = run_node(node, ins, *plan.tile(t), output_before=output)
            runs.append((index, t, run.steps))
            output = run.output
        assert np.array_equal(output, values[node.output]), "the fresh tiles compose to the native output"
    return runs


def model_inputs(quantized: QuantizedModel) -> list[np.ndarray]:
    """Three test digits, a saturated and an alternating extreme input."""
    with np.load(MODELS / "mnist_data.npz") as data:
        digits = [quantized.quantize_input(as_float_input(data["test_x"][i])) for i in (3, 1234, 1718)]
    shape, dtype = digits[0].shape, digits[0].dtype
    extremes = [np.full(shape, 127, dtype), (np.indices(shape).sum(axis=0) % 2 * 255 - 128).astype(dtype)]
    return digits + extremes


def same_steps_as_fresh_runs(model, inputs) -> set[tuple[int, ...]]:
    """Checks tile_runs == fresh runs on each input; the distinct step-count vectors seen."""
    plans = plan_model(model)
    seen = set()
    for x in inputs:
        values = executor.run(model, [x]).values
        fresh = fresh_runs(model, values, plans)
        assert [(r.node, r.tile, r.steps) for r in tile_runs(model, values, plans)] == fresh
        seen.add(tuple(steps for *_, steps in fresh))
    return seen


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_mlp"])
def test_one_image_per_node_counts_the_steps_of_fresh_runs(name: str) -> None:
    quantized = QuantizedModel.load(MODELS / f"{name}.opml")
    same_steps_as_fresh_runs(quantized.model, model_inputs(quantized))


def test_the_comparison_catches_a_machine_not_rewound_between_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernels' step counts no longer depend on the data, so this is what shows the comparison above can
    fail: with the rewind between tiles taken out, the one-image counts are no longer the fresh runs'."""
    quantized = QuantizedModel.load(MODELS / "mnist_mlp.opml")
    monkeypatch.setattr(FastMachine, "rewind", lambda self, state: None)
    with pytest.raises(AssertionError):
        same_steps_as_fresh_runs(quantized.model, model_inputs(quantized)[:1])


def test_tile_steps_gives_the_output_of_the_chained_tiles() -> None:
    model = QuantizedModel.load(MODELS / "mnist_cnn.opml").model
    values = executor.run(model, [np.full(model.tensors[model.inputs[0]].shape, -77, np.int8)]).values
    for node in model.nodes[:3]:
        ins = [values[s] for s in node.inputs]
        size = values[node.output].size
        tiles = [(0, size // 3), (size // 3, size // 3), (size // 3, size - 1), (size - 1, size)]  # an empty one
        steps, output = tile_steps(node, ins, tiles)
        assert np.array_equal(output, values[node.output])
        before = None
        for (first, end), counted in zip(tiles, steps):
            run = run_node(node, ins, first, end, output_before=before)
            assert counted == run.steps
            before = run.output


def test_a_tile_that_does_not_exit_is_an_error() -> None:
    model = QuantizedModel.load(MODELS / "mnist_mlp.opml").model
    values = executor.run(model, [np.zeros(model.tensors[model.inputs[0]].shape, np.int8)]).values
    node = model.nodes[0]
    ins = [values[s] for s in node.inputs]
    steps, _ = tile_steps(node, ins, [(0, 1), (1, 2)])
    with pytest.raises(VMRunError, match="stopped with status RUNNING"):
        tile_steps(node, ins, [(0, 1), (1, 2)], max_steps=steps[1] - 1)
    with pytest.raises(MLError, match="tile"):
        tile_steps(node, ins, [(0, 1), (2, 1)])
