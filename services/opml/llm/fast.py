"""Fast native decoding of an integer LLM: the decode-step graph run by numba kernels, KV caches kept in place.

`FastLlama(llm)` has `IntLlama`'s interface (opml.llm.runtime) and returns its bits: `decode(token, position,
sampling)` gives the int32 logits and the next token the reference executor gives and advances the caches the same
way (tests/differential/test_llm_fast.py holds them to it). What makes it fast:

- the plan is made once at load: each node of the graph gets a step; FullyConnected + its per-channel Requantize
  become one fused kernel (opml.llm.fast_ops), and the linears that read the same row (Q, K and V; gate and up)
  one call over their weights concatenated once (`[N, K]` int8 rows, what a GEMV streams), multipliers as arrays;
- the KV caches are the engine's own buffers, written in place (the reference copies them every step), and
  Attention reads only the rows up to the query's position;
- `prefill(tokens)` runs a whole prompt as one batch of rows through the same graph (every op is row-wise except
  Attention, whose causal mask gives each row exactly the keys it saw token by token, and CacheWrite, which writes
  all rows before Attention reads them), so each weight row is read once per prompt instead of once per token; the
  final norm, the LM head and Sample run on the last row only. Its logits, next token and caches are those of
  `decode` over the tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from opml.llm import fast_ops as F
from opml.llm.graph import LOGITS, NEXT_TOKEN, POSITION, SAMPLING, TOKEN
from opml.llm.llmfile import LLMModel
from opml.llm.runtime import GREEDY, StepOutput
from opml.ml import attrs as A
from opml.ml.model import Model
from opml.ml.ops import OPS, OpType

Step = Callable[[list], None]
ROW_WISE = {OpType.RMS_NORM, OpType.FULLY_CONNECTED, OpType.REQUANTIZE}


def _consumers(model: Model) -> dict[int, list[int]]:
    """slot → indices of the nodes that read it."""
    out: dict[int, list[int]] = {}
    for i, node in enumerate(model.nodes):
        for s in node.inputs:
            out.setdefault(s, []).append(i)
    return out


def _channel_arrays(attrs: A.RequantizeAttrs, channels: int) -> tuple[np.ndarray, np.ndarray]:
    m0 = np.asarray(attrs.multipliers, dtype=np.int64)
    shift = np.asarray(attrs.shifts, dtype=np.int64)
    if len(m0) == 1:
        m0, shift = np.repeat(m0, channels), np.repeat(shift, channels)
    return m0, shift


def _batched_shape(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    """A Reshape target for `size` elements: the graph's shape, or (batched rows) its last leading 1 as −1."""
    if int(np.prod(shape)) == size:
        return shape
    lead = 0
    while lead < len(shape) and shape[lead] == 1:
        lead += 1
    if lead == 0:
        raise ValueError(f"cannot batch the Reshape to {shape}")
    return (*shape[: lead - 1], -1, *shape[lead:])


class _Planner:
    """Turns the graph's nodes into steps `f(values)` that write their outputs into a slot-indexed value list."""

    def __init__(self, model: Model, cache_inputs: set[int]):
        self.model = model
        self.consumers = _consumers(model)
        self.cache_inputs = cache_inputs

    def _requantize_after(self, index: int) -> int | None:
        """The index of the per-channel Requantize that alone reads FullyConnected node `index`, if any."""
        node = self.model.nodes[index]
        users = self.consumers.get(node.output, [])
        if node.output in self.model.outputs or len(users) != 1:
            return None
        nxt = self.model.nodes[users[0]]
        return users[0] if nxt.op is OpType.REQUANTIZE and nxt.attrs.axis == 1 else None

    def _fused_linears(self, exclude: set[int]) -> dict[int, list[tuple[int, int]]]:
        """FullyConnected + Requantize pairs over constant weights, grouped by their input (Q, K, V read the same
        normalized row; so do gate and up): first FullyConnected index → [(FullyConnected, Requantize), …]."""
        groups: dict[int, list[tuple[int, int]]] = {}
        for i, node in enumerate(self.model.nodes):
            if node.op is not OpType.FULLY_CONNECTED or i in exclude:
                continue
            w, b = (self.model.constants.get(s) for s in node.inputs[1:])
            requant = self._requantize_after(i)
            if w is None or b is None or requant is None or not F.linear_exact(w.shape[1]):
                continue
            groups.setdefault((node.inputs[0], self.model.nodes[requant].attrs.relu), []).append((i, requant))
        return {members[0][0]: members for members in groups.values()}

    def _linear_group_step(self, members: list[tuple[int, int]]) -> Step:
        """One kernel call for FullyConnected + Requantize nodes that share their input (weights concatenated
        once here); each Requantize output gets its columns."""
        nodes, constants = self.model.nodes, self.model.constants
        w = np.concatenate([constants[nodes[f].inputs[1]] for f, _ in members])
        b = np.concatenate([constants[nodes[f].inputs[2]] for f, _ in members])
        pairs = [_channel_arrays(nodes[r].attrs, constants[nodes[f].inputs[1]].shape[0]) for f, r in members]
        m0, shift = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        relu = nodes[members[0][1]].attrs.relu
        x = nodes[members[0][0]].inputs[0]
        bounds = np.cumsum([0, *(constants[nodes[f].inputs[1]].shape[0] for f, _ in members)])
        outputs = [(nodes[r].output, int(lo), int(hi)) for (_, r), lo, hi in zip(members, bounds, bounds[1:])]
        def step(v):
            y = F.linear_requant(v[x], w, b, m0, shift, relu)
            for slot, lo, hi in outputs:
                v[slot] = y if len(outputs) == 1 else np.ascontiguousarray(y[:, lo:hi])

        return step

    def plan(self, tail: set[int]) -> list[tuple[Step, int | None]]:
        """(step, slot to cut to its last row before it) per step, in graph order; `tail` as `last_row_tail`."""
        cut_before = min(tail) if tail else None
        groups = self._fused_linears(exclude=tail)
        covered = {i for members in groups.values() for pair in members for i in pair}
        steps = []
        for i, node in enumerate(self.model.nodes):
            if i in groups:
                steps.append((self._linear_group_step(groups[i]), None))
            elif i not in covered:
                steps.append((self._node_step(i), node.inputs[0] if i == cut_before else None))
        return steps

    def _node_step(self, index: int) -> Step:
        node = self.model.nodes[index]
        ins, a, op, out = node.inputs, node.attrs, node.op, node.output
        compute = self._compute(op, ins, a)

        def step(v):
            v[out] = compute(v)

        return step

    def _compute(self, op: OpType, ins: tuple[int, ...], a) -> Callable[[list], np.ndarray]:
        if op is OpType.FULLY_CONNECTED and F.linear_exact(self.model.tensors[ins[0]].shape[-1]):
            return lambda v: F.fully_connected(v[ins[0]], v[ins[1]], v[ins[2]])
        if op is OpType.REQUANTIZE and a.axis == len(self.model.tensors[ins[0]].shape) - 1:
            m0, shift = _channel_arrays(a, self.model.tensors[ins[0]].shape[-1])
            return lambda v: F.requantize_last_axis(v[ins[0]], m0, shift, a.relu)
        if op is OpType.RESHAPE:
            return lambda v: v[ins[0]].reshape(_batched_shape(a.shape, v[ins[0]].size))
        if op is OpType.RMS_NORM:
            return lambda v: F.rms_norm(v[ins[0]], v[ins[1]], a)
        if op is OpType.ROPE:
            return lambda v: F.rope(v[ins[0]], v[ins[1]], v[ins[2]], a)
        if op is OpType.ATTENTION:
            return lambda v: F.attention(*(v[s] for s in ins), a)
        if op is OpType.ADD:
            return lambda v: F.add(v[ins[0]], v[ins[1]], a)
        if op is OpType.MUL:
            return lambda v: F.mul(v[ins[0]], v[ins[1]], a)
        if op is OpType.LUT:
            return lambda v: v[ins[1]][v[ins[0]].astype(np.int16) + 128]
        if op is OpType.CACHE_WRITE and ins[0] in self.cache_inputs:
            return lambda v: F.cache_write_(v[ins[0]], v[ins[1]], v[ins[2]])
        if op is OpType.SAMPLE:
            return lambda v: F.sample(*(v[s] for s in ins), a)
        reference = OPS[op].reference
        return lambda v: reference([v[s] for s in ins], a)

    def last_row_tail(self, logits_slot: int) -> set[int]:
        """Indices of the row-wise nodes that only feed the logits (final norm, LM head): in a batch they may run
        on the last row alone, the first of them cutting its input, which nothing else reads."""
        nodes = self.model.nodes
        producer = {n.output: i for i, n in enumerate(nodes)}
        tail: list[int] = []
        slot = logits_slot
        while slot in producer and nodes[producer[slot]].op in ROW_WISE:
            if slot != logits_slot and any(u not in tail for u in self.consumers.get(slot, [])):
                break
            tail.append(producer[slot])
            slot = nodes[tail[-1]].inputs[0]
        while tail and (nodes[tail[-1]].inputs[0] in self.model.outputs
                        or any(u not in tail for u in self.consumers[nodes[tail[-1]].inputs[0]])):
            tail.pop()
        return set(tail)


class FastLlama:
    """The integer LLM with its KV caches, run by the fast kernels: `IntLlama`'s bits, `IntLlama`'s interface,
    plus `prefill`."""

    def __init__(self, llm: LLMModel):
        self.llm = llm
        graph = llm.graph
        names = {graph.tensors[s].name: s for s in [*graph.inputs, *graph.outputs]}
        self._token, self._position, self._logits = names[TOKEN], names[POSITION], names[LOGITS]
        self._sampling, self._next_token = names[SAMPLING], names[NEXT_TOKEN]
        self._cache_slots = {graph.tensors[s].name: s for s in graph.inputs
                             if s not in (self._token, self._position, self._sampling)}
        planner = _Planner(graph, set(self._cache_slots.values()))
        self._steps = planner.plan(planner.last_row_tail(self._logits))
        self._base: list = [None] * len(graph.tensors)
        for slot, data in graph.constants.items():
            self._base[slot] = data
        self.reset()

    def reset(self) -> None:
        """Empty caches (all zeros, as `IntLlama.reset`)."""
        self.caches = {name: np.zeros(self.llm.graph.tensors[s].shape, np.int8)
                       for name, s in self._cache_slots.items()}

    def _run(self, tokens: Sequence[int], first: int, sampling: np.ndarray) -> StepOutput:
        values = list(self._base)
        values[self._token] = np.asarray(tokens, dtype=np.int32)
        values[self._position] = np.arange(first, first + len(tokens), dtype=np.int32)[None, :]
        values[self._sampling] = np.asarray(sampling, dtype=np.int32)
        for name, s in self._cache_slots.items():
            values[s] = self.caches[name]
        for step, cut in self._steps:
            if cut is not None:
                values[cut] = values[cut][-1:]
            step(values)
        return StepOutput(values[self._logits][-1], int(values[self._next_token][0]))

    def decode(self, token: int, position: int, sampling: np.ndarray = GREEDY) -> StepOutput:
        """The logits after `token` at `position` and the graph's next token; the caches advance (in place)."""
        return self._run([token], position, sampling)

    def step(self, token: int, position: int) -> np.ndarray:
        """int32 logits [vocab] of the token after `token` at `position`; the caches advance (in place)."""
        return self.decode(token, position).logits

    def decode_prompt(self, tokens: Sequence[int], first: int = 0, sampling: np.ndarray = GREEDY) -> StepOutput:
        """The logits and next token after the last of `tokens` placed at positions first, first + 1, …: equal
        to `decode` over them one by one, caches included."""
        if not tokens:
            raise ValueError("prefill needs at least one token")
        return self._run(tokens, first, sampling)

    def prefill(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """The logits of `decode_prompt`."""
        return self.decode_prompt(tokens, first).logits
