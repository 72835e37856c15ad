"""A generation's honest decode steps run by the fast decoder (opml.llm.fast), for the token level of a big LLM.

The reference executor recomputes a whole decode step per token (seconds for a 110 M model); the token level needs
of each step only its sampled token and the commitments of its cache outputs, and the whole tensors of one step —
the one a dispute opens. `FastSteps` gives those bits (FastLlama equals the reference executor bit for bit,
tests/differential/test_llm_fast.py) at decoding speed:

- each step's KV caches are the engine's buffers, written in place at row `position` only, so the inputs of step t
  are rows < t of the buffers it ran on (`CachePrefixInputs`, materialized when asked for: one step's copies, not
  one per step);
- each cache's region tree (opml.vm.regiontree) is updated where its row was written (a page or two), so its
  tensor commitment after every step costs a few hundred hashes, not the whole cache.

A step with faults (a lying party) runs through the reference path; `resume` continues from its cache outputs when
they are zero past the step's row (else the generation goes on without the fast path).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from opml.llm.fast import FastLlama
from opml.ml import executor
from opml.ml.model import Model
from opml.vm.regiontree import region_tree, updated_tree

from .commitments import TENSOR_LOG2
from .fast_reference import FAST_KERNELS
from .llm_commitment import LlmCommitment, sampling_bytes


def step_values(model: Model, inputs: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """Every tensor of one run of `model` (inputs in `model.inputs` order), as `opml.ml.executor.run` computes it,
    with the fast kernels of the same bits (`opml.levels.fast_reference`)."""
    return executor.run(model, inputs, FAST_KERNELS).values


class CachePrefixInputs(Mapping):
    """A decode step's inputs by slot: the small ones as given, each cache as rows < `rows` of its buffer (the
    rest zero), copied when read. The buffers' rows < `rows` must not change afterwards."""

    def __init__(self, small: dict[int, np.ndarray], caches: dict[int, np.ndarray], rows: int) -> None:
        self._small, self._caches, self._rows = small, caches, rows

    def __getitem__(self, slot: int) -> np.ndarray:
        if slot in self._small:
            return self._small[slot]
        buffer = self._caches[slot]
        out = np.zeros_like(buffer)
        out[:, : self._rows] = buffer[:, : self._rows]
        return out

    def __iter__(self) -> Iterator[int]:
        return iter([*self._small, *self._caches])

    def __len__(self) -> int:
        return len(self._small) + len(self._caches)


class FastSteps:
    """The honest decode steps of one generation (request input bytes `data`), in order."""

    def __init__(self, c: LlmCommitment, data: bytes) -> None:
        self.c = c
        self.engine = FastLlama(c.llm)
        self.sampling = np.frombuffer(sampling_bytes(data), dtype="<i4").copy()
        self.names = [c.model.tensors[s].name for s in c.cache_slots]
        self.trees = [region_tree(self.engine.caches[n], TENSOR_LOG2) for n in self.names]
        shape = c.model.tensors[c.cache_slots[0]].shape
        self.row_bytes = int(np.prod(shape[2:]))  # [1, ctx, kv heads, head dim] int8: one position's row

    def step(self, token: int, t: int) -> tuple[CachePrefixInputs, int, list[bytes]]:
        """Decode step t on `token`: (its inputs, its sampled token, its cache outputs' commitments)."""
        c = self.c
        small = {c.token_slot: np.array([token], np.int32), c.position_slot: np.array([[t]], np.int32),
                 c.sampling_slot: self.sampling}
        inputs = CachePrefixInputs(small, {s: self.engine.caches[n] for s, n in zip(c.cache_slots, self.names)}, t)
        out = self.engine.decode(token, t, self.sampling)
        first, end = t * self.row_bytes, (t + 1) * self.row_bytes
        self.trees = [updated_tree(tree, self.engine.caches[n], first, end) for tree, n in zip(self.trees, self.names)]
        return inputs, out.next_token, [tree.root for tree in self.trees]

    def caches_at(self, t: int) -> list[np.ndarray]:
        """The cache inputs of step t (rows < t of the buffers), for a step run through the reference path."""
        buffers = [self.engine.caches[n] for n in self.names]
        return [CachePrefixInputs({}, {i: b for i, b in enumerate(buffers)}, t)[i] for i in range(len(buffers))]

    def resume(self, t: int, caches: Sequence[np.ndarray]) -> bool:
        """Continue after step t from these cache outputs (copied); False when a cache holds data past row t, which
        the fast steps' prefix inputs could not reproduce."""
        if any(np.any(cache[:, t + 1:]) for cache in caches):
            return False
        for name, cache in zip(self.names, caches):
            self.engine.caches[name] = np.array(cache, dtype=np.int8, copy=True)
        self.trees = [region_tree(self.engine.caches[n], TENSOR_LOG2) for n in self.names]
        return True
