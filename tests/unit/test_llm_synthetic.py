"""The bench's synthetic GGUF writer: a valid byte-level BPE vocabulary of the asked size, and files that the
project's GGUF reader loads with the asked shape, every matrix Q8_0."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from bench.llm_synthetic import SHAPES, ensure_gguf, synthetic_vocabulary, tensor_shapes, write_gguf
from opml.llm.gguf_import import read_gguf
from opml.llm.tokenizer import Tokenizer

TINY = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn=64, vocab=400, ctx=16)  # Q8_0: rows of 32k


def test_vocabulary_is_a_working_tokenizer_of_the_asked_size():
    tokens, merges, types = synthetic_vocabulary(32000)
    assert len(tokens) == len(set(tokens)) == len(types) == 32000
    known = set(tokens)
    assert all(m.replace(" ", "") in known for m in merges)
    tok = Tokenizer(tokens=tokens, merges=merges, bos_id=0, eos_id=1, token_types=types)
    text = "The whale, the sea; 42 ships!"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) < len(text.encode())  # merges apply
    with pytest.raises(ValueError, match="byte-pair vocabulary"):
        synthetic_vocabulary(258 + 256 * 256 + 1)


def test_written_file_reads_back_with_the_shape(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, TINY, "tiny", seed=3)
    weights, tok = read_gguf(path)
    cfg = weights.config
    assert (cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.ffn, cfg.vocab, cfg.ctx) == \
        tuple(TINY[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn", "vocab", "ctx"))
    assert tok.vocab_size == TINY["vocab"] and not weights.tied
    reader = gguf.GGUFReader(str(path))
    kinds = {t.name: gguf.GGMLQuantizationType(t.tensor_type).name for t in reader.tensors}
    assert set(kinds) == set(tensor_shapes(TINY))
    assert all(kind == ("F32" if len(tensor_shapes(TINY)[name]) == 1 else "Q8_0") for name, kind in kinds.items())
    assert np.isfinite(weights.layers[1].w_down).all() and weights.layers[1].w_down.std() > 0


def test_shapes_and_cache(tmp_path):
    assert SHAPES["1b"]["dim"] == 2048 and SHAPES["1b"]["n_kv_heads"] == 4 and SHAPES["110m"]["n_layers"] == 12
    with pytest.raises(ValueError, match="unknown synthetic shape"):
        ensure_gguf("7b", tmp_path)
