"""A tiny integer transformer block built directly from the ops (no importer): every transformer op appears in
it, together with FullyConnected, Requantize, Reshape, Add and ArgMax. Its weights are seeded random; the
constants (tables, gains, multipliers) come from opml.ml.transformer_consts as a model builder would make them."""

from __future__ import annotations

import numpy as np

from opml.ml import transformer_consts as tc
from opml.ml.model import Model, Node, TensorSpec
from opml.ml.ops import infer
from opml.ml.quant import quantize_multiplier
from opml.ml.tensor import type_of

VOCAB, TOKENS, DIM, HEADS, KV_HEADS, HEAD_DIM, SLOTS = 10, 4, 8, 2, 1, 4, 6


class _Graph:
    """Appends tensors and nodes, inferring every node's output type."""

    def __init__(self) -> None:
        self.tensors: list[TensorSpec] = []
        self.constants: dict[int, np.ndarray] = {}
        self.nodes: list[Node] = []

    def input(self, name: str, dtype: str, shape: tuple[int, ...]) -> int:
        self.tensors.append(TensorSpec(name, dtype, shape))
        return len(self.tensors) - 1

    def const(self, name: str, value: np.ndarray) -> int:
        t = type_of(value)
        self.tensors.append(TensorSpec(name, t.dtype, t.shape, constant=True))
        self.constants[len(self.tensors) - 1] = value
        return len(self.tensors) - 1

    def node(self, name: str, op: str, inputs: list[int], attrs: dict | None = None) -> int:
        node = Node.make(op, inputs, len(self.tensors), attrs)
        out = infer(node.op, [self.tensors[i].type for i in inputs], node.attrs)
        self.tensors.append(TensorSpec(name, out.dtype, out.shape))
        self.nodes.append(node)
        return node.output


def transformer_block_model(rng: np.random.Generator) -> Model:
    """ids int32 [TOKENS] → … → int32 [1, TOKENS] (ArgMax over a MatMul of two activations)."""
    g = _Graph()

    def i8(*shape):
        return rng.integers(-127, 128, shape, dtype=np.int8)

    def requant(scale: float) -> dict:
        m0, shift = quantize_multiplier(scale)
        return {"multipliers": (m0,), "shifts": (shift,)}

    ids = g.input("ids", "int32", (TOKENS,))
    emb = g.node("emb", "Gather", [g.const("embedding", i8(VOCAB, DIM)), ids])
    gain, _, attrs = tc.norm_constants(rng.uniform(0.5, 2, DIM), None, 1e-5, 0.02, 0.03)
    h = g.node("rms", "RMSNorm", [emb, g.const("rms_gain", gain)], attrs)
    gain, bias, attrs = tc.norm_constants(rng.uniform(0.5, 2, DIM), rng.uniform(-1, 1, DIM), 1e-5, 0.03, 0.03)
    ln = g.node("ln", "LayerNorm", [h, g.const("ln_gain", gain), g.const("ln_bias", bias)], attrs)

    def projection(name: str, rows: int) -> int:
        acc = g.node(f"{name}_acc", "FullyConnected",
                     [ln, g.const(f"w{name}", i8(rows, DIM)), g.const(f"b{name}", np.zeros(rows, np.int32))])
        return g.node(name, "Requantize", [acc], requant(0.004))

    positions = g.const("positions", tc.causal_positions(0, TOKENS))
    rope = g.const("rope", tc.rope_table(HEAD_DIM, SLOTS, 10000.0, 14))
    q = g.node("q4", "Reshape", [projection("q", HEADS * HEAD_DIM)], {"shape": (1, TOKENS, HEADS, HEAD_DIM)})
    k = g.node("k4", "Reshape", [projection("k", KV_HEADS * HEAD_DIM)], {"shape": (1, TOKENS, KV_HEADS, HEAD_DIM)})
    v = g.node("v4", "Reshape", [projection("v", KV_HEADS * HEAD_DIM)], {"shape": (1, TOKENS, KV_HEADS, HEAD_DIM)})
    qr = g.node("q_rope", "RoPE", [q, positions, rope], {"frac_bits": 14})
    kr = g.node("k_rope", "RoPE", [k, positions, rope], {"frac_bits": 14})
    empty = np.zeros((1, SLOTS, KV_HEADS, HEAD_DIM), np.int8)
    k_cache = g.node("k_cache", "CacheWrite", [g.const("k_cache_before", empty), kr, positions])
    v_cache = g.node("v_cache", "CacheWrite", [g.const("v_cache_before", empty), v, positions])
    attn = g.node("attn", "Attention", [qr, k_cache, v_cache, positions,
                                        g.const("key_mask", np.ones((1, SLOTS), np.int32)),
                                        g.const("exp2", tc.exp2_table())],
                  tc.attention_attrs(0.03, 0.03, 0.03, 0.02, HEAD_DIM, causal=True))
    attn2 = g.node("attn2", "Reshape", [attn], {"shape": (TOKENS, DIM)})
    m0, shift = quantize_multiplier(0.6)
    res = g.node("residual", "Add", [h, attn2], {"a_multiplier": m0, "a_shift": shift, "b_multiplier": m0,
                                                  "b_shift": shift})
    gate = g.node("silu", "Lut", [res, g.const("silu_table", tc.lut_from_function(tc.silu, 0.05, 0.04))])
    prod = g.node("swiglu", "Mul", [gate, res], tc.mul_attrs(0.04, 0.05, 0.03))
    a3 = g.node("a3", "Reshape", [prod], {"shape": (1, TOKENS, DIM)})
    b3 = g.node("b3", "Reshape", [res], {"shape": (1, TOKENS, DIM)})
    scores = g.node("scores", "MatMul", [a3, b3], {"transpose_b": True})
    scores8 = g.node("scores8", "Requantize", [scores], requant(0.002))
    out = g.node("next", "ArgMax", [scores8])
    return Model("transformer_block", g.tensors, [ids], [out], g.nodes, g.constants).validate()


def sampler_model(rng: np.random.Generator, temperature_q16: int = 52429, seed: int = 2**63 + 5,
                  position: int = 3) -> Model:
    """x int8 [1, DIM] → an LM head → int32 logits [1, VOCAB] → Sample (fixed sampling words and position) → the
    token int32 [1]: the sampler of a decode step as a one-input model the ML levels can dispute."""
    g = _Graph()
    x = g.input("x", "int8", (1, DIM))
    head = rng.integers(-127, 128, (VOCAB, DIM), dtype=np.int8)
    logits = g.node("logits", "FullyConnected", [x, g.const("head", head), g.const("bias", np.zeros(VOCAB, np.int32))])
    words = np.array([seed & 0xFFFFFFFF, seed >> 32, temperature_q16, 0], np.uint32).view(np.int32)
    token = g.node("next_token", "Sample", [logits, g.const("sampling", words),
                                            g.const("position", np.array([[position]], np.int32)),
                                            g.const("exp2", tc.exp2_table())], tc.sample_attrs(0.004))
    return Model("sampler", g.tensors, [x], [token], g.nodes, g.constants).validate()
