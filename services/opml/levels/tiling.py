"""The tiling rule of each node (docs/levels.md "Tiles"): `tile_elems` output elements per tile (the last tile
shorter), so tile t covers the flat outputs [t·tile_elems, min((t+1)·tile_elems, out_elems)); and the VM trace
length 2^vm_depth every tile of the node is played at. Both are committed in the node's leaf of the graph root.

`plan_model` picks them once, when the model is committed, under a `TilingPolicy`: at most `max_tiles` tiles per
node, and vm_depth with `headroom`× room over the longest tile run measured on a sample input (kernel step counts
depend on data only through a few branches).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import structlog

from opml.ml import executor
from opml.ml.model import Model
from opml.ml.tensor import DTYPES
from opml.ml.vmrun import DataFlow, data_free_tile_steps, run_node, tile_steps
from opml.progress import track

from .fast_reference import FAST_KERNELS

log = structlog.get_logger(__name__)

class TilingError(ValueError):
    """A tile index or tiling parameter outside what the node allows."""


@dataclass(frozen=True)
class TilingPolicy:
    """How `plan_model` tiles: at most `max_tiles` tiles per node; each node's VM trace 2^vm_depth at least
    `headroom` times its longest measured tile run, and never deeper than 2^`max_vm_depth`."""

    max_tiles: int = 16
    headroom: int = 2
    max_vm_depth: int = 40

    @property
    def key(self) -> str:
        """The policy in a cache file's name (plans made under another policy are never reused)."""
        return f"{self.max_tiles}-{self.headroom}-{self.max_vm_depth}"


DEFAULT_TILING = TilingPolicy()


@dataclass(frozen=True)
class NodePlan:
    """How node k is tiled and how long each tile's VM trace is."""

    tile_elems: int
    out_elems: int
    vm_depth: int

    @property
    def tile_count(self) -> int:
        return -(-self.out_elems // self.tile_elems)

    def tile(self, t: int) -> tuple[int, int]:
        """[first, end) of tile t."""
        if not 0 <= t < self.tile_count:
            raise TilingError(f"tile {t} outside 0..{self.tile_count - 1}")
        return t * self.tile_elems, min((t + 1) * self.tile_elems, self.out_elems)

    @property
    def vm_length(self) -> int:
        return 1 << self.vm_depth


def tile_elems_for(out_elems: int, max_tiles: int = DEFAULT_TILING.max_tiles) -> int:
    """Elements per tile so that a node of `out_elems` outputs has at most `max_tiles` tiles."""
    if out_elems < 1 or max_tiles < 1:
        raise TilingError(f"cannot tile {out_elems} elements into at most {max_tiles} tiles")
    return -(-out_elems // min(out_elems, max_tiles))


def vm_depth_for(max_steps: int, headroom: int = DEFAULT_TILING.headroom,
                 max_depth: int = DEFAULT_TILING.max_vm_depth) -> int:
    """The smallest depth with 2^depth >= headroom · max_steps (at least 1); TilingError above `max_depth`."""
    depth = max(1, (headroom * max_steps - 1).bit_length())
    if depth > max_depth:
        raise TilingError(f"a tile of {max_steps} steps needs a VM trace deeper than 2^{max_depth}")
    return depth


def sample_inputs(model: Model) -> list[np.ndarray]:
    """All-zero model inputs: the default sample the step counts are measured on."""
    return [np.zeros(model.tensors[s].shape, dtype=DTYPES[model.tensors[s].dtype]) for s in model.inputs]


@dataclass(frozen=True)
class TileRun:
    node: int
    tile: int
    steps: int


def tile_runs(model: Model, values: dict[int, np.ndarray], plans: tuple[NodePlan, ...],
              known: Mapping[int, tuple[int, ...]] | None = None) -> list[TileRun]:
    """Every tile's VM step count when the nodes run on `values` (every tensor of one inference), each tile
    from the output the tiles before it filled (as the tile level plays it; one VM image per node,
    `opml.ml.vmrun.tile_steps`). `known`: node index -> its tiles' steps on every input (`data_free_steps`);
    those nodes are not run."""
    known = known or {}
    runs = []
    for index, (node, plan) in enumerate(track(list(zip(model.nodes, plans)), f"VM runs of {model.name}'s nodes")):
        if index in known:
            steps = list(known[index])
        else:
            steps, _ = tile_steps(node, [values[s] for s in node.inputs],
                                  [plan.tile(t) for t in range(plan.tile_count)])
        runs += [TileRun(index, t, n) for t, n in enumerate(steps)]
    return runs


def tiles_over_budget(model: Model, values: dict[int, np.ndarray], plans: tuple[NodePlan, ...],
                      known: Mapping[int, tuple[int, ...]] | None = None) -> list[TileRun]:
    """The tiles whose run would not halt within the node's VM trace (2^vm_depth steps) on these values: an
    honest node must not submit such a result, it could not open those tiles. `known`: as `tile_runs`."""
    return [run for run in tile_runs(model, values, plans, known) if run.steps > plans[run.node].vm_length]


def data_flows(model: Model, plans: tuple[NodePlan, ...]) -> list[DataFlow]:
    """Each node's `opml.ml.vmrun.data_free_tile_steps` over its planned tiles, with every tensor a request can
    change (all but the model's constants) and the output as data; run on the all-zero sample input. Uses no
    parallel numba kernel (`FAST_KERNELS`): it may run in a thread beside one, and numba's work queue aborts
    the process when two threads enter it at once."""
    values = executor.run(model, sample_inputs(model)).values
    return [data_free_tile_steps(node, [values[s] for s in node.inputs],
                                 [plan.tile(t) for t in range(plan.tile_count)],
                                 [s not in model.constants for s in node.inputs])
            for node, plan in track(list(zip(model.nodes, plans)), f"data flow of {model.name}'s nodes")]


def data_free_steps(model: Model, plans: tuple[NodePlan, ...]) -> dict[int, tuple[int, ...]]:
    """Node index -> its tiles' VM steps, for the nodes whose tile runs provably take those steps on every
    input (`data_flows`): `tiles_over_budget` need not run them per request. The other nodes are left out."""
    flows = data_flows(model, plans)
    dependent = {index: f"tile {flow.tile}: {flow.cause.name.lower()} at pc {flow.pc:#x}"
                 for index, flow in enumerate(flows) if flow.steps is None}
    log.debug("data_free_steps", model=model.name, data_free=len(flows) - len(dependent), dependent=dependent)
    return {index: flow.steps for index, flow in enumerate(flows) if flow.steps is not None}


def node_signature(model: Model, index: int) -> tuple:
    """What a node's kernel run depends on apart from the data: op, attributes, input and output types."""
    node = model.nodes[index]
    return (node.op, repr(node.attrs), tuple(model.tensor_type(s) for s in node.inputs),
            model.tensor_type(node.output))


def sampled_runs(model: Model, values: dict[int, np.ndarray], plans: tuple[NodePlan, ...]) -> list[TileRun]:
    """The first and the last tile's VM run of the first node of each signature (`node_signature`), reported
    for every node of that signature: a graph of repeated layers measured at the cost of one layer's two tiles
    per node. Each tile starts from the output with the tiles before it filled (as the tile level plays it)."""
    measured: dict[tuple, list[int]] = {}
    runs = []
    for index, node in enumerate(model.nodes):
        key = (node_signature(model, index), plans[index])
        if key not in measured:
            ins, out = [values[s] for s in node.inputs], values[node.output]
            measured[key] = []
            for t in sorted({0, plans[index].tile_count - 1}):
                first, end = plans[index].tile(t)
                before = np.ascontiguousarray(out).copy()
                before.reshape(-1)[first:] = 0
                measured[key].append(run_node(node, ins, first, end, output_before=before).steps)
        runs += [TileRun(index, t, steps) for t, steps in enumerate(measured[key])]
    return runs


def plan_model(model: Model, inputs: list[np.ndarray] | None = None, tiling: TilingPolicy = DEFAULT_TILING,
               sampled: bool = False) -> tuple[NodePlan, ...]:
    """One NodePlan per node under `tiling`, measuring every tile's VM steps on `inputs` (zeros by default).

    `sampled`: measure only `sampled_runs` — for big graphs of repeated layers (an LLM's decode step), whose full
    measurement would run the whole graph in the VM (about 10^10 steps for a 1.1B model). Tiles of a node and
    nodes of one signature differ in steps by a few percent on the sample (data enters the kernels through few
    branches), well inside the factor `headroom`; an honest node still checks its own runs (`tiles_over_budget`).
    """
    trace = executor.run(model, sample_inputs(model) if inputs is None else inputs, FAST_KERNELS)
    tiled = []
    for node in model.nodes:
        out_elems = model.tensor_type(node.output).size
        tiled.append(NodePlan(tile_elems_for(out_elems, tiling.max_tiles), out_elems, tiling.max_vm_depth))
    longest = [0] * len(model.nodes)
    measure = sampled_runs if sampled else tile_runs
    for run in measure(model, trace.values, tuple(tiled)):
        longest[run.node] = max(longest[run.node], run.steps)
    plans = tuple(NodePlan(p.tile_elems, p.out_elems, vm_depth_for(steps, tiling.headroom, tiling.max_vm_depth))
                  for p, steps in zip(tiled, longest))
    log.debug("model_planned", model=model.name, tiles=[p.tile_count for p in plans],
              vm_depths=[p.vm_depth for p in plans])
    return plans
