"""Float32 reference forward of a llama model (numpy), one token at a time with a KV cache, or a whole sequence.

Semantics follow llama.cpp's ``llama`` architecture: RMSNorm (x / sqrt(mean(x²) + eps) · g), RoPE rotating the
adjacent pairs (x[2i], x[2i+1]) by pos · base^(-2i/head_dim), grouped-query attention (query head h reads KV head
h // (n_heads / n_kv_heads)), softmax(q·k / sqrt(head_dim)), SwiGLU feed-forward down(silu(gate(x)) · up(x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opml.llm.gguf_import import LlamaConfig, LlamaWeights


@dataclass
class KVCache:
    """Keys (after RoPE) and values of every layer: [n_layers, ctx, n_kv_heads, head_dim] float32."""

    k: np.ndarray
    v: np.ndarray

    @classmethod
    def empty(cls, cfg: LlamaConfig) -> "KVCache":
        shape = (cfg.n_layers, cfg.ctx, cfg.n_kv_heads, cfg.head_dim)
        return cls(np.zeros(shape, np.float32), np.zeros(shape, np.float32))


def rms_norm(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    ms = np.mean(x.astype(np.float32) ** 2, axis=-1, keepdims=True)
    return (x / np.sqrt(ms + np.float32(eps))) * g


def rope_angles(cfg: LlamaConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of shape [len(positions), head_dim / 2]."""
    hd = cfg.head_dim
    inv = cfg.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = positions.astype(np.float64)[:, None] * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: [T, heads, head_dim]; cos/sin: [T, head_dim/2]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x * (0.5 * (1.0 + np.tanh(0.5 * x)))


class FloatLlama:
    """The float model: ``step`` for cached decoding, ``forward`` for a whole sequence from position 0."""

    def __init__(self, w: LlamaWeights, observe=None):
        """``observe(name, array)``, when given, sees every activation the integer model quantizes (calibration)."""
        self.w = w
        self.cfg = w.config
        self.observe = observe

    def _see(self, name: str, x: np.ndarray) -> np.ndarray:
        if self.observe is not None:
            self.observe(name, x)
        return x

    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
        """q: [T, H, hd]; k, v: [S, KV, hd] → [T, H·hd]."""
        cfg = self.cfg
        rep = cfg.n_heads // cfg.n_kv_heads
        kk = np.repeat(k, rep, axis=1)
        vv = np.repeat(v, rep, axis=1)
        scores = np.einsum("thd,shd->hts", q, kk) / np.float32(np.sqrt(cfg.head_dim))
        if causal:
            t, s = q.shape[0], k.shape[0]
            mask = np.arange(s)[None, :] > (np.arange(t)[:, None] + (s - t))
            scores = np.where(mask[None], np.float32(-np.inf), scores)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        out = np.einsum("hts,shd->thd", p, vv)
        return out.reshape(q.shape[0], -1).astype(np.float32)

    def _block(self, x: np.ndarray, i: int, positions: np.ndarray, cache: KVCache | None) -> np.ndarray:
        cfg, lw, see = self.cfg, self.w.layers[i], self._see
        p = f"blk.{i}."
        t = x.shape[0]
        h = see(p + "attn_in", rms_norm(x, lw.attn_norm, cfg.eps))
        q = (h @ lw.wq.T).reshape(t, cfg.n_heads, cfg.head_dim)
        k = (h @ lw.wk.T).reshape(t, cfg.n_kv_heads, cfg.head_dim)
        v = see(p + "v", (h @ lw.wv.T).reshape(t, cfg.n_kv_heads, cfg.head_dim))
        cos, sin = rope_angles(cfg, positions)
        see(p + "q", q)
        see(p + "k", k)
        q, k = see(p + "q", apply_rope(q, cos, sin)), see(p + "k", apply_rope(k, cos, sin))
        if cache is not None:
            p0 = int(positions[0])
            cache.k[i, p0 : p0 + t] = k
            cache.v[i, p0 : p0 + t] = v
            k, v = cache.k[i, : p0 + t], cache.v[i, : p0 + t]
        a = see(p + "attn", self._attend(q, k, v, causal=True))
        x = see(p + "x_mid", x + see(p + "o", a @ lw.wo.T))
        h = see(p + "ffn_in", rms_norm(x, lw.ffn_norm, cfg.eps))
        gate = see(p + "gate", h @ lw.w_gate.T)
        up = see(p + "up", h @ lw.w_up.T)
        prod = see(p + "prod", see(p + "act", silu(gate)) * up)
        return see(p + "x_out", x + see(p + "down", prod @ lw.w_down.T))

    def forward(self, ids: list[int] | np.ndarray, cache: KVCache | None = None, start: int = 0) -> np.ndarray:
        """Logits [T, vocab] of tokens ``ids`` at positions start.. (cached when ``cache`` is given)."""
        ids = np.asarray(ids, dtype=np.int64)
        if start + len(ids) > self.cfg.ctx:
            raise ValueError(f"{start + len(ids)} tokens exceed the context of {self.cfg.ctx}")
        positions = np.arange(start, start + len(ids))
        x = self.w.tok_embd[ids].astype(np.float32)
        for i in range(self.cfg.n_layers):
            x = self._block(x, i, positions, cache)
        return self._see("out_norm", rms_norm(x, self.w.out_norm, self.cfg.eps)) @ self.w.output.T

    def step(self, token: int, pos: int, cache: KVCache) -> np.ndarray:
        """Logits [vocab] of the next token after ``token`` at ``pos``; writes row ``pos`` of the cache."""
        return self.forward([token], cache, pos)[0]


def greedy_continuation(model: FloatLlama, ids: list[int], max_tokens: int, eos_id: int | None = None) -> list[int]:
    """The float model's greedy continuation of ``ids`` (the prompt, BOS included): up to ``max_tokens`` ids,
    stopping after EOS or at the end of the context (what llama.cpp's greedy sampler produces from the same file)."""
    cache = KVCache.empty(model.cfg)
    logits = model.forward(ids, cache)[-1]
    out: list[int] = []
    pos = len(ids)
    while len(out) < max_tokens:
        token = int(np.argmax(logits))
        out.append(token)
        if token == eos_id or pos >= model.cfg.ctx:
            break
        logits = model.step(token, pos, cache)
        pos += 1
    return out
