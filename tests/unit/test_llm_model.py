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
from opml.llm.runtime import IntLlama, PromptTooLongError, SamplingError, generate, sampling_input, temperature_q16
from opml.ml import ops
from opml.ml import transformer_consts as tc
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
            OpType.MUL, OpType.ADD, OpType.FULLY_CONNECTED, OpType.REQUANTIZE, OpType.SAMPLE} <= used
    assert ins[-1] == "sampling" and outs[-1] == "next_token" and outs[0] == LOGITS


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


def test_the_graph_samples_its_own_logits(tiny):
    """next_token is the Sample op over the step's logits with the sampling input, the step's position and the
    model's exp2 table and steps per logit unit; greedy is the ArgMax."""
    _, _, tok, llm = tiny
    (node,) = [n for n in llm.graph.nodes if n.op is OpType.SAMPLE]
    assert node.attrs == ops.parse_attrs(OpType.SAMPLE, tc.sample_attrs(llm.logit_scale))
    ids = tok.encode(" the cat sat in the sun", bos=True)
    sampled, greedy = IntLlama(llm), IntLlama(llm)
    words = sampling_input(0.9, 77)
    picks = set()
    for pos, token in enumerate(ids):
        out = sampled.decode(token, pos, words)
        inputs = [out.logits[None, :], words, np.array([[pos]], np.int32), tc.exp2_table()]
        assert out.next_token == int(ops.evaluate(OpType.SAMPLE, inputs, node.attrs)[0])
        picks.add(out.next_token)
        plain = greedy.decode(token, pos)
        np.testing.assert_array_equal(plain.logits, out.logits)
        assert plain.next_token == int(np.argmax(plain.logits))
    assert len(picks) > 1


def test_temperatures_become_q16_once():
    assert temperature_q16(0) == 0 and temperature_q16(1) == 1 << 16 and temperature_q16(0.8) == 52429
    assert sampling_input(0.5, 2**64 - 1).view(np.uint32).tolist() == [2**32 - 1, 2**32 - 1, 1 << 15, 0]
    for bad in (-0.1, 65536.0):
        with pytest.raises(SamplingError, match="temperature"):
            temperature_q16(bad)
    with pytest.raises(SamplingError, match="seed"):
        sampling_input(1.0, 2**64)


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
