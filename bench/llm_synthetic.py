"""Synthetic-weight llama GGUF files of real shapes, for the decode-speed bench (written on demand, never committed).

`ensure_gguf(name)` writes `.cache/llm/<name>-q8_0.gguf` once — random weights (seeded) of the named shape, every
matrix Q8_0 (quantized by the `gguf` package), the norms F32, and a byte-level BPE tokenizer of the shape's
vocabulary size (the 256 byte symbols, BOS/EOS, and merges of byte pairs) so that llama.cpp and
`opml model import` both load it — and returns its path; a second call finds the file. Shapes:

- `110m`: dim 768, 12 layers, 12 heads, FFN 2048, vocabulary 32000, context 1024 (llama2 "stories110M");
- `1b`: TinyLlama-1.1B — dim 2048, 22 layers, 32 heads / 4 KV heads, FFN 5632, vocabulary 32000, context 2048.

`python -m bench.llm_synthetic 110m 1b` writes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from opml.llm.gguf_import import LlamaConfig, add_llama_config
from opml.llm.tokenizer import TOKEN_CONTROL, TOKEN_NORMAL, byte_alphabet

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "llm"
SHAPES = {
    "110m": dict(dim=768, n_layers=12, n_heads=12, n_kv_heads=12, ffn=2048, vocab=32000, ctx=1024),
    "1b": dict(dim=2048, n_layers=22, n_heads=32, n_kv_heads=4, ffn=5632, vocab=32000, ctx=2048),
}
EPS, ROPE_BASE = 1e-5, 10000.0


def synthetic_vocabulary(size: int) -> tuple[list[str], list[str], list[int]]:
    """(tokens, merges, token types): BOS, EOS, the 256 byte symbols, then one token per merge of two byte
    symbols (letters first), up to `size` tokens."""
    alphabet = byte_alphabet()
    letters = [alphabet[b] for b in b" etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ.,'"]
    rest = [s for s in alphabet if s not in letters]
    order = letters + rest
    merges = []
    for left in order:
        for right in order:
            if len(merges) == size - 258:
                break
            merges.append(f"{left} {right}")
    tokens = ["<s>", "</s>", *alphabet, *(m.replace(" ", "") for m in merges)]
    if len(tokens) != size:
        raise ValueError(f"a byte-pair vocabulary holds at most {258 + 256 * 256} tokens, not {size}")
    return tokens, merges, [TOKEN_CONTROL, TOKEN_CONTROL] + [TOKEN_NORMAL] * (size - 2)


def tensor_shapes(shape: dict) -> dict[str, tuple[int, ...]]:
    """GGUF tensor name → (rows, columns) as numpy sees them ([out, in] for matrices)."""
    d, f, v = shape["dim"], shape["ffn"], shape["vocab"]
    hd = d // shape["n_heads"]
    kv = shape["n_kv_heads"] * hd
    out: dict[str, tuple[int, ...]] = {"token_embd.weight": (v, d)}
    for i in range(shape["n_layers"]):
        p = f"blk.{i}."
        out.update({p + "attn_norm.weight": (d,), p + "attn_q.weight": (d, d), p + "attn_k.weight": (kv, d),
                    p + "attn_v.weight": (kv, d), p + "attn_output.weight": (d, d), p + "ffn_norm.weight": (d,),
                    p + "ffn_gate.weight": (f, d), p + "ffn_up.weight": (f, d), p + "ffn_down.weight": (d, f)})
    out["output_norm.weight"] = (d,)
    out["output.weight"] = (v, d)
    return out


def write_gguf(path: Path, shape: dict, name: str, seed: int = 0) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    tokens, merges, types = synthetic_vocabulary(shape["vocab"])
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"synthetic-{name}")
    add_llama_config(w, LlamaConfig(**shape, eps=EPS, rope_base=ROPE_BASE))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    for tensor, dims in tensor_shapes(shape).items():
        if len(dims) == 1:
            w.add_tensor(tensor, (1.0 + 0.1 * rng.standard_normal(dims)).astype(np.float32))
            continue
        std = 0.5 if tensor == "token_embd.weight" else 1.0 / np.sqrt(dims[1])
        values = (rng.standard_normal(dims, dtype=np.float32) * np.float32(std))
        raw = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(tensor, raw, raw_shape=raw.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def ensure_gguf(name: str, cache: Path = CACHE) -> Path:
    """The synthetic Q8_0 GGUF of shape `name` ("110m" or "1b"), written on the first call."""
    if name not in SHAPES:
        raise ValueError(f"unknown synthetic shape {name!r}; known: {', '.join(SHAPES)}")
    path = cache / f"{name}-q8_0.gguf"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        write_gguf(partial, SHAPES[name], name)
        partial.rename(path)
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:] or list(SHAPES):
        print(ensure_gguf(arg))
