"""Running the integer decode step: token by token with the KV caches carried between steps, and generation.

``IntLlama.decode(token, position, sampling)`` runs the decode-step graph natively (the numpy references of the op
table, ``opml.ml.executor``), keeps the returned caches for the next step and returns the logits and the graph's
``next_token``: the Sample op picks it (ArgMax at temperature 0, else an integer draw that is a pure function of
the seed and the position; docs/ops.md "Sample"), so generation here is exactly the graph's semantics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from opml.llm.graph import LOGITS, NEXT_TOKEN, POSITION, SAMPLING, TOKEN, k_cache_name, sampling_words, \
    v_cache_name
from opml.llm.llmfile import LLMModel
from opml.ml import executor

Q16_ONE = 1 << 16
GREEDY = sampling_words(0, 0)  # the sampling input of a greedy step: temperature 0 (the seed is not read)
GREEDY.setflags(write=False)  # a shared default argument


class PromptTooLongError(ValueError):
    """A prompt (plus BOS) that does not fit the model's context."""


class SamplingError(ValueError):
    """A temperature or seed outside what the sampling input can carry."""


def temperature_q16(temperature: float) -> int:
    """A temperature as the Q16.16 word the Sample op reads (rounded once here; 0 = greedy)."""
    value = round(float(temperature) * Q16_ONE)
    if not 0 <= value < 1 << 32:
        raise SamplingError(f"temperature must be 0 (greedy) … 65535.99, got {temperature}")
    return value


def sampling_input(temperature: float, seed: int) -> np.ndarray:
    """The graph's sampling input for a float temperature and a u64 seed."""
    if not 0 <= seed < 1 << 64:
        raise SamplingError(f"seed must be 0 … 2^64 − 1, got {seed}")
    return sampling_words(seed, temperature_q16(temperature))


def cache_inputs(llm: LLMModel) -> dict[str, np.ndarray]:
    cfg = llm.config
    shape = (1, cfg.ctx, cfg.n_kv_heads, cfg.head_dim)
    out = {}
    for i in range(cfg.n_layers):
        out[k_cache_name(i)] = np.zeros(shape, np.int8)
        out[v_cache_name(i)] = np.zeros(shape, np.int8)
    return out


def step_inputs(token: int, position: int, caches: dict[str, np.ndarray],
                sampling: np.ndarray = GREEDY) -> dict[str, np.ndarray]:
    """The decode-step graph's inputs by name."""
    return {TOKEN: np.array([token], np.int32), POSITION: np.array([[position]], np.int32), **caches,
            SAMPLING: np.asarray(sampling, np.int32)}


@dataclass(frozen=True)
class StepOutput:
    """What a decode step gives a generator: the int32 logits [vocab] and the sampled next token."""

    logits: np.ndarray
    next_token: int


class IntLlama:
    """The integer model with its KV caches; ``decode`` is one decode step (``step``: its logits alone),
    ``reset`` empties the caches."""

    def __init__(self, llm: LLMModel):
        self.llm = llm
        self.graph = llm.graph
        self._out_names = [self.graph.tensors[s].name for s in self.graph.outputs]
        self.reset()

    def reset(self) -> None:
        self.caches = cache_inputs(self.llm)

    def decode(self, token: int, position: int, sampling: np.ndarray = GREEDY) -> StepOutput:
        """The logits after ``token`` at ``position`` and the graph's next token; the caches advance."""
        trace = executor.run(self.graph, step_inputs(token, position, self.caches, sampling))
        values = dict(zip(self._out_names, trace.result))
        for i in range(self.llm.config.n_layers):
            self.caches[k_cache_name(i)] = values[k_cache_name(i, out=True)]
            self.caches[v_cache_name(i)] = values[v_cache_name(i, out=True)]
        return StepOutput(values[LOGITS][0], int(values[NEXT_TOKEN][0]))

    def step(self, token: int, position: int) -> np.ndarray:
        """int32 logits [vocab] of the token after ``token`` at ``position``; the caches advance."""
        return self.decode(token, position).logits


def prompt_ids(llm: LLMModel, prompt: str) -> list[int]:
    """BOS + the prompt's tokens; PromptTooLongError unless at least one more token fits the context."""
    ids = llm.tokenizer.encode(prompt, bos=True)
    ctx = llm.config.ctx
    if len(ids) >= ctx:
        raise PromptTooLongError(f"prompt is {len(ids)} tokens (BOS included); the context holds {ctx}, "
                                 f"so nothing can be generated")
    return ids


def generate(model: IntLlama, prompt: str, max_tokens: int, temperature: float = 0.0,
             seed: int = 0) -> Iterator[int]:
    """Token ids generated after ``prompt`` (BOS first), each the graph's ``next_token`` with the sampling input of
    ``temperature`` (Q16.16, rounded once) and ``seed``; stopping at EOS, ``max_tokens`` or the context end.
    ``model`` is an ``IntLlama`` or anything with its ``reset`` and ``decode`` (``opml.llm.fast.FastLlama``)."""
    llm = model.llm
    ids = prompt_ids(llm, prompt)
    sampling = sampling_input(temperature, seed)
    model.reset()
    out = None
    for pos, token in enumerate(ids):
        out = model.decode(token, pos, sampling)
    for pos in range(len(ids), len(ids) + max_tokens):
        token = out.next_token
        if token == llm.tokenizer.eos_id:
            return
        yield token
        if pos >= llm.config.ctx:
            return
        out = model.decode(token, pos, sampling)
