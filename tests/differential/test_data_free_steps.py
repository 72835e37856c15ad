"""The step counts the taint analysis proves input-independent (`opml.levels.tiling.data_free_steps`) are the
counts the VM takes on real and extreme inputs; the budget check that skips those nodes refuses exactly what the
full check refuses; and the analysis is not blind: the nodes it leaves out really vary, or read through addresses
a request chooses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_tile_steps import model_inputs
from transformer_models import VOCAB, transformer_block_model

from opml.levels.tiling import data_flows, data_free_steps, plan_model, tile_runs, tiles_over_budget
from opml.ml import executor
from opml.ml.ops import OpType
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT
from opml.vm.taint import FlowCause

MODELS = REPO_ROOT / "models"


def steps_by_node(model, values, plans) -> dict[int, tuple[int, ...]]:
    steps: dict[int, list[int]] = {}
    for run in tile_runs(model, values, plans):
        steps.setdefault(run.node, []).append(run.steps)
    return {node: tuple(tiles) for node, tiles in steps.items()}


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_mlp"])
def test_proven_steps_are_the_steps_on_every_input(name: str) -> None:
    quantized = QuantizedModel.load(MODELS / f"{name}.opml")
    model = quantized.model
    plans = plan_model(model)
    known = data_free_steps(model, plans)
    assert set(known) == set(range(len(model.nodes))), "every kernel of these models is branch-free on data"
    for x in model_inputs(quantized):
        assert steps_by_node(model, executor.run(model, [x]).values, plans) == known


def test_a_transformer_block_every_node_proven_or_dependent_for_a_reason() -> None:
    rng = np.random.default_rng(11)
    model = transformer_block_model(rng)
    plans = plan_model(model)
    flows = data_flows(model, plans)
    known = {k: flow.steps for k, flow in enumerate(flows) if flow.steps is not None}
    dependent = {model.nodes[k].op: flow.cause for k, flow in enumerate(flows) if flow.steps is None}
    # Gather bounds-checks the request's ids; Attention reads its exp2 table by words a score chooses
    assert dependent == {OpType.GATHER: FlowCause.BRANCH, OpType.ATTENTION: FlowCause.ADDRESS}
    ids = [np.zeros(model.tensor_type(model.inputs[0]).shape, np.int32)] + \
        [rng.integers(0, VOCAB, model.tensor_type(model.inputs[0]).shape, dtype=np.int32) for _ in range(3)]
    for x in ids:
        steps = steps_by_node(model, executor.run(model, [x]).values, plans)
        assert {k: steps[k] for k in known} == known


def test_the_budget_check_skipping_proven_nodes_refuses_what_the_full_check_refuses() -> None:
    quantized = QuantizedModel.load(MODELS / "mnist_cnn.opml")
    model = quantized.model
    plans = plan_model(model)
    known = data_free_steps(model, plans)
    tight = tuple(replace(p, vm_depth=max(1, p.vm_depth - 2)) for p in plans)  # some tiles over, some not
    for x in model_inputs(quantized)[:3]:
        values = executor.run(model, [x]).values
        assert tiles_over_budget(model, values, plans, known) == tiles_over_budget(model, values, plans) == []
        over = tiles_over_budget(model, values, tight, known)
        assert over == tiles_over_budget(model, values, tight) and over
        assert {run.node for run in over} & set(known), "a proven node's tiles are reported without a run"
