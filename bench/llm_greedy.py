"""llama.cpp's greedy continuation against the project's float reference (opml.llm.forward), prompt by prompt.

Both start from BOS + the prompt's tokens (the GGUF asks llama.cpp to add BOS) and pick the highest logit each
step. `llama-simple` prints the prompt's pieces and then each generated piece; the reference's continuation is
decoded with the model's own tokenizer and compared as text. Not a bench module itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def reference_continuation(weights, tok, prompt: str, tokens: int) -> str:
    """The float reference's greedy continuation of BOS + prompt, `tokens` tokens (fewer at EOS), as text."""
    from opml.llm.forward import FloatLlama, KVCache

    model = FloatLlama(weights)
    cache = KVCache.empty(weights.config)
    ids = tok.encode(prompt, bos=True)
    logits = model.forward(ids, cache)[-1]
    out: list[int] = []
    for position in range(len(ids), len(ids) + tokens):
        token = int(np.argmax(logits))
        if token == tok.eos_id:
            break
        out.append(token)
        logits = model.step(token, position, cache)
    return tok.decode(out)


def llamacpp_continuation(simple: Path, gguf: Path, prompt: str, tokens: int) -> str:
    """llama-simple's stdout without the trailing newline: the prompt's pieces, then the continuation."""
    done = subprocess.run([str(simple), "-m", str(gguf), "-n", str(tokens), prompt], capture_output=True,
                          check=True)
    return done.stdout.decode("utf-8", errors="replace").removesuffix("\n")


def compare_greedy(simple: Path, gguf: Path, prompts: Sequence[str], tokens: int, log=print) -> int:
    """1 when llama.cpp's output is the prompt followed by the reference's continuation for every prompt."""
    from opml.llm.gguf_import import read_gguf

    weights, tok = read_gguf(gguf)
    agree = True
    for prompt in prompts:
        expected = reference_continuation(weights, tok, prompt, tokens)
        printed = llamacpp_continuation(simple, gguf, prompt, tokens)
        same = printed in (prompt + expected, tok.tokens[tok.bos_id] + prompt + expected)  # BOS printed or not
        if not same:
            log(f"   greedy mismatch on {prompt!r}: reference {expected!r}, llama.cpp {printed!r}")
        agree &= same
    return int(agree)
