"""generate_tokens on the shipped model: the fast decoder's tokens are the reference runtime's, greedy and sampled;
the decode steps follow the request layout (prompt fed first, each next_token fed back, exactly N tokens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from opml.llm.generation import GenerationRequest, generate_tokens
from opml.llm.llmfile import load
from opml.llm.runtime import IntLlama
from opml.ml.errors import InputError

OPML = Path(__file__).resolve().parents[2] / "models/llm/moby.opml"


@pytest.fixture(scope="module")
def moby():
    return load(OPML)


def _prompt(llm, text="Call me Ishmael. Some years ago"):
    return tuple(llm.tokenizer.encode(text, bos=True))


@pytest.mark.parametrize("temperature_q16, salt", [(0, 0), (1 << 16, 7), (45875, 2**64 - 1)])
def test_fast_generation_is_the_reference_generation(moby, temperature_q16, salt):
    request = GenerationRequest(_prompt(moby), max_new_tokens=8, temperature_q16=temperature_q16, salt=salt)
    tokens = generate_tokens(moby, request)
    assert len(tokens) == 8 and all(0 <= t < moby.config.vocab for t in tokens)
    assert generate_tokens(moby, request, IntLlama(moby)) == tokens


def test_decode_steps_feed_back_each_next_token(moby):
    """Step t feeds x_t at position t; the steps from P − 1 on give the tokens (here checked step by step)."""
    request = GenerationRequest(_prompt(moby), max_new_tokens=5, temperature_q16=1 << 16, salt=3)
    tokens = generate_tokens(moby, request)
    model, words = IntLlama(moby), request.sampling_words()
    xs = [*request.prompt, *tokens]
    nexts = [model.decode(xs[t], t, words).next_token for t in range(request.steps)]
    assert nexts[len(request.prompt) - 1:] == tokens


def test_greedy_tokens_are_the_argmax_chain_and_a_prefix_of_longer_runs(moby):
    short = GenerationRequest(_prompt(moby), max_new_tokens=4, temperature_q16=0, salt=1)
    long = GenerationRequest(_prompt(moby), max_new_tokens=7, temperature_q16=0, salt=2)
    tokens = generate_tokens(moby, long)
    assert generate_tokens(moby, short) == tokens[:4]
    model = IntLlama(moby)
    xs = [*long.prompt, *tokens]
    for t in range(long.steps):
        logits = model.step(xs[t], t)
    assert tokens[-1] == int(np.argmax(logits))


def test_the_salt_changes_a_sampled_generation(moby):
    runs = {tuple(generate_tokens(moby, GenerationRequest(_prompt(moby), 6, 1 << 16, salt))) for salt in range(4)}
    assert len(runs) > 1


def test_the_last_position_is_usable_and_one_more_is_refused(moby):
    ctx = moby.config.ctx
    prompt = tuple([moby.tokenizer.bos_id] * (ctx - 1))
    assert len(generate_tokens(moby, GenerationRequest(prompt, 2, 0, 0))) == 2  # steps = ctx
    with pytest.raises(InputError, match=f"context holds {ctx}"):
        generate_tokens(moby, GenerationRequest(prompt, 3, 0, 0))
    with pytest.raises(InputError, match="vocabulary"):
        generate_tokens(moby, GenerationRequest((moby.config.vocab,), 1, 0, 0))
