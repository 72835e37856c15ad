"""The sampled tiling plan (`plan_model(..., sampled=True)`): on an LLM's decode step — layers that repeat the same
node signatures — it runs the first and last tile of one node per signature instead of every tile of every node,
and gives the plan the full measurement gives (the shipped model, docs/levels.md "Tiles")."""

from __future__ import annotations

from opml.levels import tiling
from opml.llm import llmfile
from opml.ml import executor
from opml.paths import REPO_ROOT


def test_sampled_plan_equals_the_full_plan_on_the_shipped_llm_at_a_fraction_of_the_runs() -> None:
    graph = llmfile.load(REPO_ROOT / "models" / "llm" / "moby.opml").graph
    assert tiling.plan_model(graph, sampled=True) == tiling.plan_model(graph)
    plans = tuple(tiling.NodePlan(tiling.tile_elems_for(graph.tensor_type(n.output).size), graph.tensor_type(
        n.output).size, tiling.DEFAULT_TILING.max_vm_depth) for n in graph.nodes)
    values = executor.run(graph, tiling.sample_inputs(graph)).values
    signatures = {(tiling.node_signature(graph, k), plans[k]) for k in range(len(graph.nodes))}
    assert len(signatures) * 2 < sum(p.tile_count for p in plans) / 4  # far fewer runs than tiles
    runs = tiling.sampled_runs(graph, values, plans)
    assert {r.node for r in runs} == set(range(len(graph.nodes)))
