"""The graph level: S_k = root of the slot tree holding the input, the constants and the outputs of nodes < k
(k = 0..node_count). Transition k opens the tile level of node k (proof: GraphTileProof).

`GraphLevel` is honest about the values it is given: each node's output commitment is the end of its own tile
trace. A lying party's graph level wraps it from outside (`opml.levels.lies.LyingGraphLevel`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from opml.game.trace import NotLastLevel, StepWitness, TraceProvider, check_root_index, opened_once
from opml.ml.ops import OPS
from opml.progress import track

from .commitments import GraphCommitment, kernel_code_root, node_attrs, tensor_commitment
from .links import GraphTileProof
from .tile_level import TileClaim, TileLevel


class GraphLevel(TraceProvider):
    """One party's graph trace: `values` holds every tensor as it believes them (the native executor's, for an
    honest party)."""

    is_last_level = False

    def __init__(self, commitment: GraphCommitment, values: Mapping[int, np.ndarray]) -> None:
        self.commitment = commitment
        self.model = commitment.model
        self.values = dict(values)
        self.length = len(self.model.nodes)
        self._tiles: dict[int, TileLevel] = {}
        self._leaves: list[dict[int, bytes]] | None = None
        self._roots: dict[int, bytes] = {}

    def _slot_commitments(self) -> list[dict[int, bytes]]:
        """commitments[k]: slot → commitment in S_k (inputs and constants, then node outputs one by one)."""
        if self._leaves is None:
            current = {**{s: tensor_commitment(self.values[s]) for s in self.commitment.input_slots},
                       **self.commitment.constant_commitments}
            states = [dict(current)]
            for k, node in enumerate(track(self.model.nodes, "graph trace: node outputs' tile traces")):
                current[node.output] = self.output_commitment(k)
                states.append(dict(current))
            self._leaves = states
        return self._leaves

    def output_commitment(self, k: int) -> bytes:
        """The commitment node k's output slot holds from S_{k+1} on: the end of node k's tile trace."""
        tiles = self.tile_level(k)
        return tiles.root_at(tiles.length)

    def commitments_at(self, k: int) -> dict[int, bytes]:
        check_root_index(self.length, k)
        return self._slot_commitments()[k]

    def root_at(self, k: int) -> bytes:
        if k not in self._roots:
            self._roots[k] = self.commitment.slot_root(self.commitments_at(k))
        return self._roots[k]

    def step_witness(self, k: int) -> StepWitness:
        raise NotLastLevel(f"graph node {k} opens the tile level")

    def tile_level(self, k: int) -> TileLevel:
        return opened_once(self._tiles, self.length, k, self._make_tile_level)

    def _make_tile_level(self, k: int) -> TileLevel:
        """Node k's tile level over this party's values (built once, by `tile_level`)."""
        return TileLevel(self._claim(k))

    def _claim(self, k: int) -> TileClaim:
        """What this party claims about node k: its kernel, attributes, input values and output value."""
        node, defn = self.model.nodes[k], self.commitment.nodes[k]
        kernel = OPS[node.op].kernel
        return TileClaim(kernel, kernel_code_root(kernel), node_attrs(self.model, k), defn,
                         tuple(self.values[s] for s in node.inputs), self.values[node.output])

    def open_next(self, k: int) -> tuple[TileLevel, bytes]:
        return self.tile_level(k), self.link_proof(k).encode()

    def link_proof(self, k: int) -> GraphTileProof:
        """The proof that opens node k's tile level."""
        tiles = self.tile_level(k)
        c, node = self.commitment, self.commitment.nodes[k]
        before = self.commitments_at(k)
        return GraphTileProof(
            c.nodes_root, len(c.nodes), c.slot_depth, c.kernels_root, node, tuple(c.node_proof(k)),
            kernel_code_root(tiles.claim.kernel), tuple(c.kernel_proof(node.op_id)),
            tuple(before[s] for s in node.inputs), tuple(tuple(c.slot_proof(before, s)) for s in node.inputs),
            tuple(c.slot_proof(before, node.output)))
