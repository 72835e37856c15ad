"""Activation ranges of a llama model on calibration text: max |x| of every activation the integer model
quantizes, from the float reference forward over windows of the text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from opml.llm.forward import FloatLlama
from opml.llm.gguf_import import LlamaWeights
from opml.llm.tokenizer import Tokenizer

DEFAULT_WINDOWS = 8


def calibration_windows(tok: Tokenizer, text: str, ctx: int, windows: int = DEFAULT_WINDOWS) -> list[list[int]]:
    """Up to ``windows`` disjoint token windows of the text, each BOS + ctx − 1 tokens (the last may be shorter)."""
    ids = tok.encode(text)
    step = ctx - 1
    out = [[tok.bos_id, *ids[i : i + step]] for i in range(0, len(ids), step)][:windows]
    if not out or len(out[0]) < 2:
        raise ValueError("calibration text yields no tokens")
    return out


def vocabulary_text(tok: Tokenizer) -> str:
    """The calibration text used when none is given: every normal token, in id order."""
    return tok.decode(list(range(tok.vocab_size)))


def activation_ranges(weights: LlamaWeights, windows: list[list[int]],
                      progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """name → max |x| over every window (names as FloatLlama's observer sees them, plus "embd")."""
    ranges: dict[str, float] = defaultdict(float)

    def observe(name: str, x: np.ndarray) -> None:
        ranges[name] = max(ranges[name], float(np.abs(x).max()))

    model = FloatLlama(weights, observe=observe)
    for i, window in enumerate(windows):
        model.forward(window)
        if progress is not None:
            progress(i + 1, len(windows))
    ranges["embd"] = float(np.abs(weights.tok_embd).max())
    return dict(ranges)
