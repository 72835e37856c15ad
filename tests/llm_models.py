"""Tiny llama GGUF files written with the `gguf` package's own writer, for the LLM tests.

`write_tiny_llama(path, qtype=...)` writes a random-weight llama of the given shape with every matrix stored as
`qtype` (quantized by `gguf.quants.quantize`, or random raw blocks for the K-quants the package only reads) and
returns the float32 tensors as written (the exact dequantization of what is stored).
"""

from __future__ import annotations

import pathlib

import gguf
import numpy as np

from opml.llm.gguf_import import LlamaConfig, add_llama_config
from opml.llm.tokenizer import TOKEN_CONTROL, TOKEN_NORMAL, Tokenizer, byte_alphabet

TINY = dict(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=256, ctx=32, eps=1e-5, rope_base=10000.0)
MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "Ġ w", "Ġ s", "a n", "Ġa n", "Ġan d"]


def tiny_tokenizer() -> Tokenizer:
    tokens = ["<|bos|>", "<|eos|>", *byte_alphabet(), *(m.replace(" ", "") for m in MERGES)]
    types = [TOKEN_CONTROL, TOKEN_CONTROL] + [TOKEN_NORMAL] * (len(tokens) - 2)
    return Tokenizer(tokens=tokens, merges=list(MERGES), bos_id=0, eos_id=1, token_types=types)


def _raw_k_blocks(rng: np.random.Generator, qtype, n_rows: int, n_cols: int) -> np.ndarray:
    """Random but well-formed K-quant blocks: random quant bits, small positive float16 super-block scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_rows, n_cols // block, size), dtype=np.uint8)
    scale = lambda n: rng.uniform(1e-5, 1e-4, size=(n_rows, n_cols // block, n)).astype(np.float16).view(np.uint8)  # noqa: E731
    if qtype == gguf.GGMLQuantizationType.Q4_K:  # d, dmin (f16) then 12 scale bytes and 128 quant bytes
        blocks[..., 0:4] = scale(2).reshape(n_rows, n_cols // block, 4)
    else:  # Q6_K: ql, qh, 16 int8 scales, then d (f16) last
        blocks[..., size - 2:] = scale(1).reshape(n_rows, n_cols // block, 2)
    return blocks.reshape(n_rows, -1)


def _store(writer, rng, name: str, values: np.ndarray, qtype) -> np.ndarray:
    """Write `values` as `qtype`; return what a reader gets back (float32, same shape)."""
    q = gguf.GGMLQuantizationType
    if values.ndim == 1 or qtype == q.F32:
        writer.add_tensor(name, values.astype(np.float32))
        return values.astype(np.float32)
    if qtype == q.F16:
        writer.add_tensor(name, values.astype(np.float16))
        return values.astype(np.float16).astype(np.float32)
    if qtype in (q.Q4_K, q.Q6_K):
        raw = _raw_k_blocks(rng, qtype, *values.shape)
    else:
        raw = gguf.quants.quantize(values.astype(np.float32), qtype)
    writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
    return gguf.quants.dequantize(raw, qtype).reshape(values.shape).astype(np.float32)


def write_tiny_llama(path: pathlib.Path, qtype=gguf.GGMLQuantizationType.F32, *, tied: bool = False,
                     arch: str = "llama", seed: int = 0, config: dict | None = None) -> dict[str, np.ndarray]:
    c = {**TINY, **(config or {})}
    rng = np.random.default_rng(seed)
    tok = tiny_tokenizer()
    d, hd, f, v = c["dim"], c["dim"] // c["n_heads"], c["ffn"], tok.vocab_size
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny")
    add_llama_config(w, LlamaConfig(dim=d, n_layers=c["n_layers"], n_heads=c["n_heads"], n_kv_heads=c["n_kv_heads"],
                                    ffn=f, ctx=c["ctx"], vocab=v, eps=c["eps"], rope_base=c["rope_base"]))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tok.tokens)
    w.add_token_scores([0.0] * v)
    w.add_token_types(tok.token_types)
    w.add_token_merges(tok.merges)
    w.add_bos_token_id(tok.bos_id)
    w.add_eos_token_id(tok.eos_id)
    shapes = {"token_embd.weight": (v, d)}
    for i in range(c["n_layers"]):
        p = f"blk.{i}."
        shapes.update({p + "attn_norm.weight": (d,), p + "attn_q.weight": (c["n_heads"] * hd, d),
                       p + "attn_k.weight": (c["n_kv_heads"] * hd, d), p + "attn_v.weight": (c["n_kv_heads"] * hd, d),
                       p + "attn_output.weight": (d, c["n_heads"] * hd), p + "ffn_norm.weight": (d,),
                       p + "ffn_gate.weight": (f, d), p + "ffn_up.weight": (f, d), p + "ffn_down.weight": (d, f)})
    shapes["output_norm.weight"] = (d,)
    if not tied:
        shapes["output.weight"] = (v, d)
    stored = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            values = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            values = rng.standard_normal(shape) * (0.5 if name == "token_embd.weight" else 1 / np.sqrt(shape[1]))
        stored[name] = _store(w, rng, name, values, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored
