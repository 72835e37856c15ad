"""The graph level: S_k = root of the slot tree holding the input, the constants and the outputs of nodes < k
(k = 0..node_count). Transition k opens the tile level of node k (proof: GraphTileProof).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from opml.game.trace import NotLastLevel, StepWitness, TraceProvider, check_root_index, check_transition
from opml.ml.ops import OPS
from opml.progress import track

from .commitments import GraphCommitment, kernel_code_root, node_attrs, tensor_commitment
from .faults import Fault, ForgeGraphLink, ForgeTileLink, forged, wrong_outputs
from .links import GraphTileProof
from .tile_level import TileClaim, TileLevel


class GraphLevel(TraceProvider):
    """One party's graph trace: `values` holds every tensor as it believes them; `faults` say how it lies."""

    is_last_level = False

    def __init__(self, commitment: GraphCommitment, values: Mapping[int, np.ndarray],
                 faults: frozenset[Fault] = frozenset()) -> None:
        self.commitment = commitment
        self.model = commitment.model
        self.values = dict(values)
        self.faults = faults
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
                current[node.output] = self.tile_level(k).root_at(self.tile_level(k).length)
                if ForgeGraphLink(k) in self.faults:
                    current[node.output] = forged(current[node.output])
                states.append(dict(current))
            self._leaves = states
        return self._leaves

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
        check_transition(self.length, k)
        if k not in self._tiles:
            self._tiles[k] = TileLevel(self._claim(k))
        return self._tiles[k]

    def _claim(self, k: int) -> TileClaim:
        node, defn = self.model.nodes[k], self.commitment.nodes[k]
        kernel = OPS[node.op].kernel
        lie = wrong_outputs(self.faults).get(k)
        forged_tiles = [f.tile for f in self.faults if isinstance(f, ForgeTileLink) and f.node == k]
        return TileClaim(kernel, kernel_code_root(kernel), node_attrs(self.model, k), defn,
                         tuple(self.values[s] for s in node.inputs), self.values[node.output],
                         wrong_element=lie.element if lie else None, vm_step=lie.vm_step if lie else 1,
                         forged_after=min(forged_tiles) if forged_tiles else None)

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
