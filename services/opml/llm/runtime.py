"""Running the integer decode step: token by token with the KV caches carried between steps, and generation.

``IntLlama.step(token, position)`` runs the decode-step graph natively (the numpy references of the op table,
``opml.ml.executor``) and keeps the returned caches for the next step. Sampling is integer-only: greedy is the
ArgMax of the int32 logits (lowest id on ties); at temperature T > 0 the logits are turned into weights by the
same exp2 table the Attention op uses and a seeded 64-bit generator draws from their cumulative sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from opml.llm.graph import LOGITS, POSITION, TOKEN, k_cache_name, v_cache_name
from opml.llm.llmfile import LLMModel
from opml.ml import executor
from opml.ml import transformer_consts as tc


LAST_STEP = 256 * 17  # 1/256-log2 steps at which the exp2 weight (at most 2^16) has shifted down to 0


class PromptTooLongError(ValueError):
    """A prompt (plus BOS) that does not fit the model's context."""


def cache_inputs(llm: LLMModel) -> dict[str, np.ndarray]:
    cfg = llm.config
    shape = (1, cfg.ctx, cfg.n_kv_heads, cfg.head_dim)
    out = {}
    for i in range(cfg.n_layers):
        out[k_cache_name(i)] = np.zeros(shape, np.int8)
        out[v_cache_name(i)] = np.zeros(shape, np.int8)
    return out


def step_inputs(token: int, position: int, caches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {TOKEN: np.array([token], np.int32), POSITION: np.array([[position]], np.int32), **caches}


class IntLlama:
    """The integer model with its KV caches; ``step`` is one decode step, ``reset`` empties the caches."""

    def __init__(self, llm: LLMModel):
        self.llm = llm
        self.graph = llm.graph
        self._out_names = [self.graph.tensors[s].name for s in self.graph.outputs]
        self.reset()

    def reset(self) -> None:
        self.caches = cache_inputs(self.llm)

    def step(self, token: int, position: int) -> np.ndarray:
        """int32 logits [vocab] of the token after ``token`` at ``position``; the caches advance."""
        trace = executor.run(self.graph, step_inputs(token, position, self.caches))
        values = dict(zip(self._out_names, trace.result))
        for i in range(self.llm.config.n_layers):
            self.caches[k_cache_name(i)] = values[k_cache_name(i, out=True)]
            self.caches[v_cache_name(i)] = values[v_cache_name(i, out=True)]
        return values[LOGITS][0]


@dataclass
class SplitMix64:
    """A 64-bit seeded generator (SplitMix64): the same seed gives the same draws on every machine."""

    state: int

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        return z ^ (z >> 31)


def temperature_weights(logits: np.ndarray, logit_scale: float, temperature: float) -> np.ndarray:
    """Integer weights ∝ exp(logit / T): differences to the maximum in 1/256 steps of log2 through the exp2
    table (int64, ≥ 0, the maximum's weight 2^16). The step size is fixed once from the scale and T."""
    steps_per_unit = 256.0 / (np.log(2.0) * temperature) * logit_scale  # 1/256-log2 steps per int32 logit unit
    num, den = min(int(round(steps_per_unit * (1 << 20))), 1 << 40), 1 << 20
    cap = (LAST_STEP * den) // max(num, 1) + 1  # distances beyond this weigh 0 anyway; keeps the product in int64
    diff = np.minimum(int(logits.max()) - logits.astype(np.int64), cap) * num // den
    table = tc.exp2_table().astype(np.int64)
    return np.where(diff < LAST_STEP, table[diff & 255] >> np.minimum(diff >> 8, 63), 0)


def sample(logits: np.ndarray, logit_scale: float, temperature: float, rng: SplitMix64 | None) -> int:
    """Greedy (lowest id among the maxima) at temperature 0; else one integer draw from temperature_weights."""
    if temperature <= 0 or rng is None:
        return int(np.argmax(logits))
    weights = temperature_weights(logits, logit_scale, temperature)
    cumulative = np.cumsum(weights)
    pick = rng.next() % int(cumulative[-1])
    return int(np.searchsorted(cumulative, pick, side="right"))


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
    """Token ids generated after ``prompt`` (BOS first), stopping at EOS, ``max_tokens`` or the context end."""
    llm = model.llm
    ids = prompt_ids(llm, prompt)
    ctx = llm.config.ctx
    model.reset()
    rng = SplitMix64(seed) if temperature > 0 else None
    logits = None
    for pos, token in enumerate(ids):
        logits = model.step(token, pos)
    pos = len(ids)
    for _ in range(max_tokens):
        token = sample(logits, llm.logit_scale, temperature, rng)
        if token == llm.tokenizer.eos_id:
            return
        yield token
        if pos >= ctx:
            return
        logits = model.step(token, pos)
        pos += 1
