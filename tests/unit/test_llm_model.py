"""The integer decode step of a tiny random llama: close to the float reference, deterministic, integer-only,
stored losslessly in the LLM model file; generation and the integer sampler."""

from __future__ import annotations

import numpy as np
import pytest
from llm_models import write_tiny_llama
from llm_small import SMALL, TEXT, write_small_llama

from opml.llm.forward import FloatLlama
from opml.llm.gguf_import import read_gguf
from opml.llm.graph import LOGITS, k_cache_name, v_cache_name
from opml.llm.importer import import_gguf
from opml.llm.llmfile import LLMFileError, expected_io, from_bytes, to_bytes
from opml.llm.runtime import IntLlama, PromptTooLongError, SplitMix64, generate, sample, temperature_weights
from opml.ml.ops import OpType

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = write_small_llama(tmp_path_factory.mktemp("llm"), seed=7)
    weights, tok = read_gguf(path)
    return path, weights, tok, import_gguf(path, TEXT)


def test_integer_logits_follow_the_float_model(tiny):
    _, weights, tok, llm = tiny
    ids = tok.encode(" the cat sat in the sun and the dog", bos=True)
    floats = FloatLlama(weights).forward(ids)
    model = IntLlama(llm)
    agree = 0
    for pos, token in enumerate(ids):
        logits = model.step(token, pos)
        assert logits.dtype == np.int32 and logits.shape == (tok.vocab_size,)
        corr = np.corrcoef(logits * llm.logit_scale, floats[pos])[0, 1]
        assert corr > 0.98, (pos, corr)
        agree += int(np.argmax(logits)) == int(np.argmax(floats[pos]))
    assert agree >= len(ids) - 2


def test_graph_is_integer_ops_with_named_io(tiny):
    _, weights, _, llm = tiny
    graph = llm.graph
    assert all(isinstance(n.op, OpType) for n in graph.nodes)
    assert all(t.dtype in ("int8", "int32") for t in graph.tensors)
    ins, outs = expected_io(weights.config)
    assert [graph.tensors[s].name for s in graph.inputs] == ins
    assert [graph.tensors[s].name for s in graph.outputs] == outs
    used = {n.op for n in graph.nodes}
    assert {OpType.GATHER, OpType.RMS_NORM, OpType.ROPE, OpType.CACHE_WRITE, OpType.ATTENTION, OpType.LUT,
            OpType.MUL, OpType.ADD, OpType.FULLY_CONNECTED, OpType.REQUANTIZE} <= used


def test_steps_write_one_cache_row_each(tiny):
    _, weights, tok, llm = tiny
    model = IntLlama(llm)
    model.step(tok.bos_id, 0)
    model.step(40, 1)
    k = model.caches[k_cache_name(1)]
    assert np.any(k[0, 0]) and np.any(k[0, 1]) and not np.any(k[0, 2:])
    assert not np.any(model.caches[v_cache_name(0)][0, 2:])
    # the same tokens at the same positions give the same bits
    again = IntLlama(llm)
    again.step(tok.bos_id, 0)
    np.testing.assert_array_equal(again.step(40, 1), _replay(llm, tok))
    for name, cache in model.caches.items():
        np.testing.assert_array_equal(cache, again.caches[name])


def _replay(llm, tok):
    m = IntLlama(llm)
    m.step(tok.bos_id, 0)
    return m.step(40, 1)


def test_import_is_deterministic_and_the_file_round_trips(tiny):
    path, _, _, llm = tiny
    blob = to_bytes(llm)
    assert to_bytes(import_gguf(path, TEXT)) == blob
    back = from_bytes(blob)
    assert to_bytes(back) == blob
    assert back.tokenizer.tokens == llm.tokenizer.tokens and back.logit_scale == llm.logit_scale


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic"])
def test_damaged_llm_file_is_one_line(tiny, damage):
    blob = bytearray(to_bytes(tiny[3]))
    if damage == "flip":
        blob[len(blob) // 2] ^= 1
    elif damage == "truncate":
        blob = blob[: len(blob) - 100]
    else:
        blob[:8] = b"OPMLMODL"
    with pytest.raises(LLMFileError) as exc:
        from_bytes(bytes(blob))
    assert "\n" not in str(exc.value)


def test_greedy_generation_is_the_argmax_chain(tiny):
    _, _, tok, llm = tiny
    model = IntLlama(llm)
    out = list(generate(model, " the cat", 6))
    ids = tok.encode(" the cat", bos=True)
    check = IntLlama(llm)
    for pos, token in enumerate(ids):
        logits = check.step(token, pos)
    for produced in out:
        assert produced == int(np.argmax(logits))
        logits = check.step(produced, len(ids))
        ids.append(produced)
    assert len(out) == 6 or (out and out[-1] == tok.eos_id)


def test_generation_stops_at_the_context_and_rejects_long_prompts(tiny):
    _, weights, _, llm = tiny
    model = IntLlama(llm)
    out = list(generate(model, " the", 100))
    assert 2 + len(out) <= weights.config.ctx + 1
    with pytest.raises(PromptTooLongError, match="context holds 24"):
        list(generate(model, " the" * 30, 1))


def test_seeded_sampling_repeats_and_depends_on_the_seed(tiny):
    llm = tiny[3]
    runs = {seed: list(generate(IntLlama(llm), " the", 8, temperature=1.0, seed=seed)) for seed in (1, 1, 2, 3)}
    assert list(generate(IntLlama(llm), " the", 8, temperature=1.0, seed=1)) == runs[1]
    assert len({tuple(v) for v in runs.values()}) > 1


def test_temperature_weights_and_sampler():
    logits = np.array([100, 90, 100, -1000], np.int32)
    w = temperature_weights(logits, logit_scale=0.05, temperature=1.0)
    assert w[0] == w[2] == 1 << 16 and 0 < w[1] < w[0] and w[3] == 0
    assert sample(logits, 0.05, 0.0, None) == 0  # greedy: lowest id among the maxima
    draws = [sample(logits, 0.05, 1.0, SplitMix64(s)) for s in range(200)]
    assert set(draws) <= {0, 1, 2} and {0, 2} <= set(draws)
    assert LOGITS == "logits"


@pytest.mark.parametrize("qtype,tied", [("Q4_K", True), ("Q8_0", False)])
def test_quantized_and_tied_gguf_import_to_a_working_decode_step(tmp_path, qtype, tied):
    import gguf

    path = tmp_path / "q.gguf"
    write_tiny_llama(path, getattr(gguf.GGMLQuantizationType, qtype), tied=tied, seed=5,
                     config=dict(SMALL, dim=256, ffn=256))
    weights, tok = read_gguf(path)
    llm = import_gguf(path, TEXT)
    ids = tok.encode(" the cat", bos=True)
    floats = FloatLlama(weights).forward(ids)
    model = IntLlama(llm)
    for pos, token in enumerate(ids):
        logits = model.step(token, pos).astype(np.float64) * llm.logit_scale
        assert np.corrcoef(logits, floats[pos])[0, 1] > 0.95, (qtype, pos)
