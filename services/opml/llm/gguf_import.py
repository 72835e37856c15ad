"""Read a llama-architecture GGUF file (llama.cpp's format) into float32 weights and its tokenizer.

The file is read with the ``gguf`` package (llama.cpp's own reader) and every tensor is dequantized with the
package's own ``gguf.quants.dequantize``, so what this module returns is exactly what the format stores. Anything
outside the supported set (architecture, tensor type, tokenizer model) or a file that does not parse raises
``GGUFImportError`` with one line saying why.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from opml.llm.tokenizer import Tokenizer

SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K")


class GGUFImportError(ValueError):
    """A GGUF file this importer cannot read; the message is one line naming the cause."""


@dataclass(frozen=True)
class LlamaConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    ctx: int
    vocab: int
    eps: float
    rope_base: float

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


@dataclass
class LayerWeights:
    """One block; matrices are [out, in] float32 (y = W @ x)."""

    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray


@dataclass
class LlamaWeights:
    config: LlamaConfig
    tok_embd: np.ndarray  # [vocab, dim]
    layers: list[LayerWeights]
    out_norm: np.ndarray
    output: np.ndarray  # [vocab, dim]; the same array as tok_embd when the head is tied
    tied: bool
    name: str = ""


def _open(path: pathlib.Path):
    import gguf

    if not path.exists():
        raise GGUFImportError(f"{path}: no such file")
    try:
        return gguf.GGUFReader(str(path), "r")
    except Exception as exc:  # the reader raises ValueError/IndexError/struct errors on bad bytes
        raise GGUFImportError(f"{path}: not a readable GGUF file (truncated or corrupt: {exc})") from None


def _field(reader, key: str, *, required: bool = True):
    f = reader.get_field(key)
    if f is None:
        if required:
            raise GGUFImportError(f"GGUF metadata lacks {key}")
        return None
    return f.contents()


def _tensor_array(t) -> np.ndarray:
    import gguf

    kind = gguf.GGMLQuantizationType(t.tensor_type).name
    if kind not in SUPPORTED_TYPES:
        raise GGUFImportError(
            f"tensor {t.name} has type {kind}; supported: {', '.join(SUPPORTED_TYPES)}")
    shape = tuple(int(d) for d in reversed(t.shape.tolist()))
    out = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    return np.ascontiguousarray(out, dtype=np.float32).reshape(shape)


def _require(reader, key: str, supported: str, what: str, kind: str = "") -> None:
    """GGUFImportError unless the field `key` is `supported` (the one variant this importer reads)."""
    value = _field(reader, key)
    if value != supported:
        raise GGUFImportError(f"{what} {value!r} is not supported (only {kind}{supported!r})")


def read_config(reader) -> LlamaConfig:
    _require(reader, "general.architecture", "llama", what="architecture")
    dim = int(_field(reader, "llama.embedding_length"))
    n_heads = int(_field(reader, "llama.attention.head_count"))
    n_kv = _field(reader, "llama.attention.head_count_kv", required=False)
    rope_dims = _field(reader, "llama.rope.dimension_count", required=False)
    if rope_dims is not None and int(rope_dims) != dim // n_heads:
        raise GGUFImportError(f"partial RoPE ({rope_dims} of {dim // n_heads} dims) is not supported")
    base = _field(reader, "llama.rope.freq_base", required=False)
    tokens = reader.get_field("tokenizer.ggml.tokens")
    vocab = _field(reader, "llama.vocab_size", required=False)
    if vocab is None:
        vocab = len(tokens.data) if tokens is not None else 0
    return LlamaConfig(
        dim=dim,
        n_layers=int(_field(reader, "llama.block_count")),
        n_heads=n_heads,
        n_kv_heads=int(n_kv) if n_kv is not None else n_heads,
        ffn=int(_field(reader, "llama.feed_forward_length")),
        ctx=int(_field(reader, "llama.context_length")),
        vocab=int(vocab),
        eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        rope_base=float(base) if base is not None else 10000.0,
    )


def add_llama_config(writer, cfg: LlamaConfig) -> None:
    """Write `cfg` as the ``llama.*`` hyperparameters on a ``gguf.GGUFWriter`` (the inverse of `read_config`),
    in one fixed key order so that a file written twice is the same bytes."""
    writer.add_context_length(cfg.ctx)
    writer.add_embedding_length(cfg.dim)
    writer.add_block_count(cfg.n_layers)
    writer.add_feed_forward_length(cfg.ffn)
    writer.add_head_count(cfg.n_heads)
    writer.add_head_count_kv(cfg.n_kv_heads)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(cfg.rope_base)
    writer.add_layer_norm_rms_eps(cfg.eps)
    writer.add_vocab_size(cfg.vocab)


def read_tokenizer(reader) -> Tokenizer:
    """The byte-level BPE vocabulary as llama.cpp stores it (``tokenizer.ggml.model = "gpt2"``)."""
    _require(reader, "tokenizer.ggml.model", "gpt2", what="tokenizer model", kind="byte-level BPE ")
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    merges = list(_field(reader, "tokenizer.ggml.merges"))
    types = _field(reader, "tokenizer.ggml.token_type", required=False)
    bos = _field(reader, "tokenizer.ggml.bos_token_id")
    eos = _field(reader, "tokenizer.ggml.eos_token_id")
    try:
        return Tokenizer(tokens=tokens, merges=merges, bos_id=int(bos), eos_id=int(eos),
                         token_types=[int(t) for t in types] if types is not None else [])
    except (ValueError, KeyError, IndexError) as exc:
        raise GGUFImportError(f"tokenizer metadata is inconsistent: {exc}") from None


def read_gguf(path: str | pathlib.Path, progress=None) -> tuple[LlamaWeights, Tokenizer]:
    """Weights (float32) and tokenizer of a llama GGUF file; ``progress(done, total)`` is called per tensor."""
    path = pathlib.Path(path)
    reader = _open(path)
    cfg = read_config(reader)
    tok = read_tokenizer(reader)
    by_name = {t.name: t for t in reader.tensors}
    total = len(by_name)
    done = 0

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        nonlocal done
        t = by_name.get(name)
        if t is None:
            raise GGUFImportError(f"GGUF lacks tensor {name}")
        arr = _tensor_array(t)
        if arr.shape != shape:
            raise GGUFImportError(f"tensor {name} has shape {arr.shape}, expected {shape}")
        done += 1
        if progress is not None:
            progress(done, total)
        return arr

    d, hd, f = cfg.dim, cfg.head_dim, cfg.ffn
    if tok.vocab_size != cfg.vocab:
        raise GGUFImportError(f"tokenizer has {tok.vocab_size} tokens, llama.vocab_size is {cfg.vocab}")
    embd = get("token_embd.weight", (cfg.vocab, d))
    layers = []
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        layers.append(LayerWeights(
            attn_norm=get(p + "attn_norm.weight", (d,)),
            wq=get(p + "attn_q.weight", (cfg.n_heads * hd, d)),
            wk=get(p + "attn_k.weight", (cfg.n_kv_heads * hd, d)),
            wv=get(p + "attn_v.weight", (cfg.n_kv_heads * hd, d)),
            wo=get(p + "attn_output.weight", (d, cfg.n_heads * hd)),
            ffn_norm=get(p + "ffn_norm.weight", (d,)),
            w_gate=get(p + "ffn_gate.weight", (f, d)),
            w_up=get(p + "ffn_up.weight", (f, d)),
            w_down=get(p + "ffn_down.weight", (d, f)),
        ))
    out_norm = get("output_norm.weight", (d,))
    tied = "output.weight" not in by_name
    output = embd if tied else get("output.weight", (cfg.vocab, d))
    name = _field(reader, "general.name", required=False) or path.stem
    return LlamaWeights(config=cfg, tok_embd=embd, layers=layers, out_norm=out_norm, output=output,
                        tied=tied, name=str(name)), tok
