"""The fast decoder (opml.llm.fast.FastLlama) against the reference runtime (opml.llm.runtime.IntLlama, the numpy
references of the decode-step graph): the same int32 logits, sampled next tokens and KV caches, bit for bit,
token by token and for a batched prefill."""

from __future__ import annotations

import numpy as np
import pytest
from llm_small import TEXT, write_small_llama

from opml.llm.fast import FastLlama, _batched_shape
from opml.llm.importer import import_gguf
from opml.llm.runtime import IntLlama, sampling_input

@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    return import_gguf(write_small_llama(tmp_path_factory.mktemp("llm"), seed=11), TEXT)


def _ids(llm, n):
    ids = llm.tokenizer.encode(TEXT, bos=True)[:n]
    assert len(ids) == n
    return ids


def _assert_caches_equal(fast, reference):
    assert set(fast.caches) == set(reference.caches)
    for name, cache in reference.caches.items():
        np.testing.assert_array_equal(fast.caches[name], cache, err_msg=name)


def test_steps_give_the_reference_logits_and_caches(llm):
    fast, reference = FastLlama(llm), IntLlama(llm)
    token = llm.tokenizer.bos_id
    for position in range(12):
        expected = reference.step(token, position)
        got = fast.step(token, position)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected, err_msg=f"position {position}")
        token = int(np.argmax(expected))  # greedy: the continuation the reference would generate
    _assert_caches_equal(fast, reference)


def test_prefill_equals_steps_one_by_one(llm):
    ids = _ids(llm, 15)
    reference = IntLlama(llm)
    for position, token in enumerate(ids):
        expected = reference.step(token, position)
    fast = FastLlama(llm)
    np.testing.assert_array_equal(fast.prefill(ids[:9]), _logits_after(llm, ids[:9]))
    np.testing.assert_array_equal(fast.prefill(ids[9:], first=9), expected)  # a second chunk after the first
    _assert_caches_equal(fast, reference)
    np.testing.assert_array_equal(fast.step(ids[3], 15), reference.step(ids[3], 15))


@pytest.mark.parametrize("temperature, seed", [(0.0, 0), (0.7, 3), (1.3, 2**64 - 5)])
def test_decode_gives_the_reference_next_token(llm, temperature, seed):
    words = sampling_input(temperature, seed)
    fast, reference = FastLlama(llm), IntLlama(llm)
    token, picks = llm.tokenizer.bos_id, []
    for position in range(12):
        expected = reference.decode(token, position, words)
        got = fast.decode(token, position, words)
        np.testing.assert_array_equal(got.logits, expected.logits, err_msg=f"position {position}")
        assert got.next_token == expected.next_token, position
        token = expected.next_token
        picks.append(token)
    _assert_caches_equal(fast, reference)
    prompt = FastLlama(llm).decode_prompt([llm.tokenizer.bos_id, *picks[:-1]], 0, words)
    assert prompt.next_token == picks[-1]  # the batch samples its last row at the last position


def test_reset_empties_the_caches(llm):
    fast = FastLlama(llm)
    first = fast.prefill(_ids(llm, 5))
    fast.reset()
    assert not any(np.any(c) for c in fast.caches.values())
    np.testing.assert_array_equal(fast.prefill(_ids(llm, 5)), first)
    with pytest.raises(ValueError, match="at least one token"):
        fast.prefill([])


def test_batched_reshape_targets():
    assert _batched_shape((1, 1, 4, 16), 64) == (1, 1, 4, 16)
    assert _batched_shape((1, 1, 4, 16), 3 * 64) == (1, -1, 4, 16)
    assert _batched_shape((1, 64), 5 * 64) == (-1, 64)
    with pytest.raises(ValueError, match="cannot batch"):
        _batched_shape((4, 16), 128)


def _logits_after(llm, ids):
    model = IntLlama(llm)
    for position, token in enumerate(ids):
        logits = model.step(token, position)
    return logits
