"""GGUF import: files written by the `gguf` package with every supported tensor type read back exactly as the
package dequantizes them; unsupported or broken files are one-line errors."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from llm_models import TINY, tiny_tokenizer, write_tiny_llama

from opml.llm.forward import FloatLlama, KVCache, greedy_continuation
from opml.llm.gguf_import import GGUFImportError, read_gguf

Q = gguf.GGMLQuantizationType
SUPPORTED = [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_K, Q.Q6_K]


def _layer_arrays(weights):
    out = {"token_embd.weight": weights.tok_embd, "output_norm.weight": weights.out_norm}
    for i, lw in enumerate(weights.layers):
        p = f"blk.{i}."
        out.update({p + "attn_norm.weight": lw.attn_norm, p + "attn_q.weight": lw.wq, p + "attn_k.weight": lw.wk,
                    p + "attn_v.weight": lw.wv, p + "attn_output.weight": lw.wo, p + "ffn_norm.weight": lw.ffn_norm,
                    p + "ffn_gate.weight": lw.w_gate, p + "ffn_up.weight": lw.w_up, p + "ffn_down.weight": lw.w_down})
    if not weights.tied:
        out["output.weight"] = weights.output
    return out


@pytest.mark.parametrize("qtype", SUPPORTED, ids=lambda q: q.name)
def test_every_tensor_type_reads_as_the_package_dequantizes(tmp_path, qtype):
    path = tmp_path / "tiny.gguf"
    stored = write_tiny_llama(path, qtype)
    weights, tok = read_gguf(path)
    arrays = _layer_arrays(weights)
    assert set(arrays) == set(stored)
    for name, expected in stored.items():
        assert arrays[name].dtype == np.float32
        np.testing.assert_array_equal(arrays[name], expected, err_msg=name)
    # the package's dequantization is not the identity: quantized types differ from the float source
    raw = gguf.GGUFReader(str(path)).tensors
    matrix = next(t for t in raw if t.name == "blk.0.attn_q.weight")
    assert matrix.tensor_type == qtype
    assert weights.config.dim == TINY["dim"] and weights.config.n_kv_heads == TINY["n_kv_heads"]
    assert tok.tokens == tiny_tokenizer().tokens and tok.merges == tiny_tokenizer().merges
    logits = FloatLlama(weights).forward([0, 5, 9])
    assert logits.shape == (3, tok.vocab_size) and np.all(np.isfinite(logits))


def test_quantized_types_stay_close_to_the_float_weights(tmp_path):
    exact = write_tiny_llama(tmp_path / "f32.gguf", Q.F32, seed=3)
    for qtype, tol in ((Q.Q8_0, 0.02), (Q.Q4_0, 0.25), (Q.BF16, 0.01)):
        got = write_tiny_llama(tmp_path / f"{qtype.name}.gguf", qtype, seed=3)
        w = got["blk.1.ffn_up.weight"]
        ref = exact["blk.1.ffn_up.weight"]
        assert not np.array_equal(w, ref)
        assert np.abs(w - ref).max() <= tol * np.abs(ref).max(), qtype.name


def test_tied_output_head_is_the_embedding(tmp_path):
    path = tmp_path / "tied.gguf"
    write_tiny_llama(path, tied=True)
    weights, _ = read_gguf(path)
    assert weights.tied and weights.output is weights.tok_embd


def test_cached_steps_equal_the_whole_sequence_forward(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path, Q.F16)
    weights, _ = read_gguf(path)
    model = FloatLlama(weights)
    ids = [0, 40, 71, 260, 3, 99, 12]
    full = model.forward(ids)
    cache = KVCache.empty(weights.config)
    steps = np.stack([model.step(t, i, cache) for i, t in enumerate(ids)])
    np.testing.assert_allclose(steps, full, rtol=1e-4, atol=1e-4)
    # causality: a later token does not change earlier logits
    np.testing.assert_allclose(model.forward(ids[:4]), full[:4], rtol=1e-4, atol=1e-4)


def test_unsupported_architecture_is_one_line(tmp_path):
    path = tmp_path / "other.gguf"
    write_tiny_llama(path, arch="falcon")
    with pytest.raises(GGUFImportError, match="architecture 'falcon' is not supported") as exc:
        read_gguf(path)
    assert "\n" not in str(exc.value)


def test_unsupported_tensor_type_names_the_tensor(tmp_path):
    path = tmp_path / "q5.gguf"
    write_tiny_llama(path, Q.Q5_0)
    with pytest.raises(GGUFImportError, match=r"tensor token_embd.weight has type Q5_0; supported: F32, F16"):
        read_gguf(path)


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.05])
def test_truncated_file_is_one_line(tmp_path, keep):
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path, Q.Q8_0)
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(GGUFImportError) as exc:
        read_gguf(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(GGUFImportError, match="no such file"):
        read_gguf(tmp_path / "absent.gguf")


def test_greedy_continuation_is_the_argmax_chain(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path)
    weights, _ = read_gguf(path)
    model = FloatLlama(weights)
    ids = [0, 70, 75]
    out = greedy_continuation(model, ids, 5)
    assert len(out) == 5
    for token in out:
        assert token == int(np.argmax(model.forward(ids)[-1]))
        ids.append(token)
