"""The shipped LLM: its GGUF carries llama.cpp's keys and names, the committed integer model is what the documented
import command produces, and its decode step follows the float model on held-out text."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from opml.llm.forward import FloatLlama
from opml.llm.gguf_import import read_gguf
from opml.llm.importer import import_gguf
from opml.llm.llmfile import load, to_bytes
from opml.llm.runtime import IntLlama
from opml.llm.text import load_moby_dick, split_text

ROOT = Path(__file__).resolve().parents[2]
GGUF = ROOT / "models/llm/moby.gguf"
OPML = ROOT / "models/llm/moby.opml"
CALIBRATION = ROOT / "models/llm/calibration.txt"


def test_gguf_uses_llama_cpp_names_and_keys():
    reader = gguf.GGUFReader(str(GGUF))
    keys = set(reader.fields)
    assert {"general.architecture", "llama.context_length", "llama.embedding_length", "llama.block_count",
            "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
            "llama.rope.dimension_count", "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model",
            "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"} <= keys
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output_norm.weight", "output.weight", "blk.5.ffn_down.weight"} <= names
    weights, tok = read_gguf(GGUF)
    params = sum(t.n_elements for t in reader.tensors)
    assert 5_000_000 <= params <= 30_000_000
    assert weights.config.n_kv_heads < weights.config.n_heads  # grouped-query attention
    train, held = split_text(load_moby_dick(ROOT))
    assert tok.decode(tok.encode(held)) == held and held.startswith("A gentle joyousness")


def test_committed_integer_model_is_the_documented_import():
    llm = import_gguf(GGUF, CALIBRATION.read_text(encoding="utf-8"))
    assert to_bytes(llm) == OPML.read_bytes()


def test_integer_decode_follows_the_float_model_on_held_out_text():
    weights, tok = read_gguf(GGUF)
    llm = load(OPML)
    _, held = split_text(load_moby_dick(ROOT))
    ids = [tok.bos_id, *tok.encode(held)[:23]]
    floats = FloatLlama(weights).forward(ids)
    model = IntLlama(llm)
    agree = 0
    for pos, token in enumerate(ids):
        ints = model.step(token, pos).astype(np.float64) * llm.logit_scale
        assert np.corrcoef(ints, floats[pos])[0, 1] > 0.97, pos
        agree += int(np.argmax(ints) == np.argmax(floats[pos]))
    assert agree >= 20
