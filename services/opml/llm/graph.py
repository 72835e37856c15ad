"""The integer decode step of a llama model: one graph of ops from the op table (opml.ml.ops).

Inputs (by name, in this order): ``token`` int32[1], ``position`` int32[1, 1], per layer i ``k_cache.i`` /
``v_cache.i`` int8[1, ctx, n_kv_heads, head_dim], and ``sampling`` int32[4] (seed low and high 32 bits, temperature
Q16.16, 0). Outputs: ``logits`` int32[1, vocab] (real logits = logits · logit_scale), the caches with row
``position`` written, ``k_cache_out.i`` / ``v_cache_out.i``, which the next step takes as its caches, and
``next_token`` int32[1], the Sample op over the logits (ArgMax at temperature 0; docs/ops.md "Sample"). Per layer:

    h = RMSNorm(x);  q, k, v = Requantize(FullyConnected(h, W)) → Reshape;  q, k = RoPE(q, k, position)
    K = CacheWrite(k_cache, k, position);  V = CacheWrite(v_cache, v, position)
    x = Add(x, Requantize(FullyConnected(Reshape(Attention(q, K, V, causal)), Wo)))
    h = RMSNorm(x);  x = Add(x, Requantize(FullyConnected(Mul(Lut_silu(gate(h)), up(h)), Wdown)))

Weights are int8 with one scale per output channel (the Requantize multipliers carry them); the LM head has one
scale for the whole matrix so that the int32 logits of different tokens compare directly (ArgMax, sampling), and
``next_token = Sample(logits, sampling, position, exp2)`` with the steps per logit unit of that scale.
Activation scales are max |x| / 127 from calibration (``opml.llm.calibrate``). Building uses floats; the graph
it returns is integers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from opml.llm.gguf_import import LlamaWeights
from opml.ml import transformer_consts as tc
from opml.ml.model import Model, Node, TensorSpec
from opml.ml.ops import OpType, infer, parse_attrs
from opml.ml.quant import quantize_multiplier
from opml.ml.shapes import SAMPLING_WORDS
from opml.ml.tensor import TensorType

TOKEN, POSITION, LOGITS = "token", "position", "logits"
SAMPLING, NEXT_TOKEN = "sampling", "next_token"
ROPE_FRAC_BITS = 14


def sampling_words(seed: int, temperature_q16: int) -> np.ndarray:
    """The ``sampling`` input int32[4]: (seed low 32 bits, seed high 32 bits, temperature Q16.16, 0), each word
    the bits of a u32 (docs/ops.md "Sample")."""
    words = np.array([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, temperature_q16 & 0xFFFFFFFF, 0], np.uint32)
    return words.view(np.int32)


def k_cache_name(layer: int, out: bool = False) -> str:
    return f"k_cache{'_out' if out else ''}.{layer}"


def v_cache_name(layer: int, out: bool = False) -> str:
    return f"v_cache{'_out' if out else ''}.{layer}"


@dataclass
class _Graph:
    """Appends tensors and nodes in topological order; a node's output type is inferred by the op table."""

    name: str
    tensors: list[TensorSpec] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    inputs: list[int] = field(default_factory=list)

    def _add(self, spec: TensorSpec) -> int:
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def input(self, name: str, dtype: str, shape: tuple[int, ...]) -> int:
        slot = self._add(TensorSpec(name, dtype, shape))
        self.inputs.append(slot)
        return slot

    def const(self, name: str, data: np.ndarray) -> int:
        dtype = "int8" if data.dtype == np.int8 else "int32"
        slot = self._add(TensorSpec(name, dtype, tuple(data.shape), constant=True))
        self.constants[slot] = np.ascontiguousarray(data)
        return slot

    def node(self, op: OpType, inputs: list[int], name: str, attrs: dict | None = None) -> int:
        parsed = parse_attrs(op, attrs)
        out = infer(op, [self.tensors[s].type for s in inputs], parsed)
        slot = self._add(TensorSpec(name, out.dtype, out.shape))
        self.nodes.append(Node(op, tuple(inputs), slot, parsed))
        return slot

    def type(self, slot: int) -> TensorType:
        return self.tensors[slot].type

    def model(self, outputs: list[int]) -> Model:
        return Model(self.name, self.tensors, self.inputs, outputs, self.nodes, self.constants).validate()


def quantize_rows(w: np.ndarray, per_channel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights and their scales: one per row (output channel), or one for the whole matrix."""
    top = np.abs(w).max(axis=1) if per_channel else np.full(w.shape[0], np.abs(w).max())
    scale = np.where(top > 0, top / 127.0, 1.0).astype(np.float64)
    q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def scale_of(ranges: dict[str, float], name: str) -> float:
    top = ranges[name]
    return top / 127.0 if top > 0 else 1.0


@dataclass(frozen=True)
class DecodeGraph:
    """The decode-step model and the real scales a caller needs to read it."""

    model: Model
    logit_scale: float
    scales: dict[str, float]


class _Builder:
    def __init__(self, weights: LlamaWeights, ranges: dict[str, float], name: str):
        self.w = weights
        self.cfg = weights.config
        self.s = {k: scale_of(ranges, k) for k in ranges}
        self.g = _Graph(name)

    def linear(self, x: int, w: np.ndarray, in_scale: float, out_scale: float, name: str) -> int:
        """int8 x [1, in] · W [out, in]ᵀ → int8 [1, out] of scale out_scale (per-channel weight scales)."""
        q, ws = quantize_rows(w)
        g = self.g
        acc = g.node(OpType.FULLY_CONNECTED, [x, g.const(name + ".weight", q),
                                              g.const(name + ".bias", np.zeros(w.shape[0], np.int32))], name + ".acc")
        mults = [quantize_multiplier(in_scale * float(s) / out_scale) for s in ws]
        return g.node(OpType.REQUANTIZE, [acc], name, {"multipliers": tuple(m for m, _ in mults),
                                                       "shifts": tuple(s for _, s in mults), "axis": 1})

    def norm(self, x: int, gamma: np.ndarray, in_scale: float, out_scale: float, name: str) -> int:
        gain, _, attrs = tc.norm_constants(gamma, None, self.cfg.eps, in_scale, out_scale)
        return self.g.node(OpType.RMS_NORM, [x, self.g.const(name + ".gain", gain)], name, attrs)

    def add(self, a: int, b: int, sa: float, sb: float, s_out: float, name: str) -> int:
        ma, sha = quantize_multiplier(sa / s_out)
        mb, shb = quantize_multiplier(sb / s_out)
        return self.g.node(OpType.ADD, [a, b], name, {"a_multiplier": ma, "a_shift": sha,
                                                      "b_multiplier": mb, "b_shift": shb})

    def reshape(self, x: int, shape: tuple[int, ...], name: str) -> int:
        return self.g.node(OpType.RESHAPE, [x], name, {"shape": shape})

    def layer(self, i: int, x: int, s_x: float, consts: dict[str, int]) -> tuple[int, float, int, int]:
        cfg, lw, s, g = self.cfg, self.w.layers[i], self.s, self.g
        p = f"blk.{i}."
        hd, nh, nkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
        h = self.norm(x, lw.attn_norm, s_x, s[p + "attn_in"], p + "attn_norm")
        q = self.reshape(self.linear(h, lw.wq, s[p + "attn_in"], s[p + "q"], p + "attn_q"), (1, 1, nh, hd), p + "q")
        k = self.reshape(self.linear(h, lw.wk, s[p + "attn_in"], s[p + "k"], p + "attn_k"), (1, 1, nkv, hd), p + "k")
        v = self.reshape(self.linear(h, lw.wv, s[p + "attn_in"], s[p + "v"], p + "attn_v"), (1, 1, nkv, hd), p + "v")
        rope = {"frac_bits": ROPE_FRAC_BITS}
        q = g.node(OpType.ROPE, [q, consts["position"], consts["rope"]], p + "q_rope", rope)
        k = g.node(OpType.ROPE, [k, consts["position"], consts["rope"]], p + "k_rope", rope)
        cache_shape = (1, cfg.ctx, nkv, hd)
        k_in = g.input(k_cache_name(i), "int8", cache_shape)
        v_in = g.input(v_cache_name(i), "int8", cache_shape)
        k_all = g.node(OpType.CACHE_WRITE, [k_in, k, consts["position"]], k_cache_name(i, out=True))
        v_all = g.node(OpType.CACHE_WRITE, [v_in, v, consts["position"]], v_cache_name(i, out=True))
        attrs = tc.attention_attrs(s[p + "q"], s[p + "k"], s[p + "v"], s[p + "attn"], hd, causal=True)
        a = g.node(OpType.ATTENTION, [q, k_all, v_all, consts["position"], consts["key_mask"], consts["exp2"]],
                   p + "attn", attrs)
        a = self.reshape(a, (1, nh * hd), p + "attn_flat")
        o = self.linear(a, lw.wo, s[p + "attn"], s[p + "o"], p + "attn_output")
        x = self.add(x, o, s_x, s[p + "o"], s[p + "x_mid"], p + "x_mid")
        h = self.norm(x, lw.ffn_norm, s[p + "x_mid"], s[p + "ffn_in"], p + "ffn_norm")
        gate = self.linear(h, lw.w_gate, s[p + "ffn_in"], s[p + "gate"], p + "ffn_gate")
        up = self.linear(h, lw.w_up, s[p + "ffn_in"], s[p + "up"], p + "ffn_up")
        table = tc.lut_from_function(tc.silu, s[p + "gate"], s[p + "act"])
        act = g.node(OpType.LUT, [gate, g.const(p + "silu_table", table)], p + "act")
        prod = g.node(OpType.MUL, [act, up], p + "prod", tc.mul_attrs(s[p + "act"], s[p + "up"], s[p + "prod"]))
        down = self.linear(prod, lw.w_down, s[p + "prod"], s[p + "down"], p + "ffn_down")
        x = self.add(x, down, s[p + "x_mid"], s[p + "down"], s[p + "x_out"], p + "x_out")
        return x, s[p + "x_out"], k_all, v_all

    def build(self) -> DecodeGraph:
        cfg, g, s = self.cfg, self.g, self.s
        token = g.input(TOKEN, "int32", (1,))
        position = g.input(POSITION, "int32", (1, 1))
        consts = {
            "position": position,
            "rope": g.const("rope_table", tc.rope_table(cfg.head_dim, cfg.ctx, cfg.rope_base, ROPE_FRAC_BITS)),
            "exp2": g.const("exp2_table", tc.exp2_table()),
            "key_mask": g.const("key_mask", np.ones((1, cfg.ctx), np.int32)),
        }
        embd_q = np.clip(np.round(self.w.tok_embd / s["embd"]), -127, 127).astype(np.int8)
        x = g.node(OpType.GATHER, [g.const("token_embd", embd_q), token], "embd")
        s_x = s["embd"]
        caches = []
        for i in range(cfg.n_layers):
            x, s_x, k_all, v_all = self.layer(i, x, s_x, consts)
            caches += [k_all, v_all]
        h = self.norm(x, self.w.out_norm, s_x, s["out_norm"], "output_norm")
        head_q, head_scale = quantize_rows(self.w.output, per_channel=False)
        logits = g.node(OpType.FULLY_CONNECTED, [h, g.const("output.weight", head_q),
                                                 g.const("output.bias", np.zeros(cfg.vocab, np.int32))], LOGITS)
        logit_scale = s["out_norm"] * float(head_scale[0])
        sampling = g.input(SAMPLING, "int32", (SAMPLING_WORDS,))
        token_out = g.node(OpType.SAMPLE, [logits, sampling, position, consts["exp2"]], NEXT_TOKEN,
                           tc.sample_attrs(logit_scale))
        model = g.model([logits, *caches, token_out])
        return DecodeGraph(model, logit_scale=logit_scale, scales=dict(s))


def build_decode_graph(weights: LlamaWeights, ranges: dict[str, float], name: str = "llama") -> DecodeGraph:
    """The integer decode-step graph of ``weights`` with activation scales from ``ranges`` (name → max |x|)."""
    return _Builder(weights, ranges, name).build()
