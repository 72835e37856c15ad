"""The TinyLlama-1.1B shape fits the memory map and the levels (docs/llm.md "Limits"): its decode-step graph, built
for real at the 1.1B widths (one layer; zero weights — only shapes matter), has every tensor within a 2^28-byte
region and at most 6 inputs per node; the counts per layer, measured on 1- and 2-layer graphs, give the 22-layer
graph's slot and node tree depths. The weights are never hashed here (bench/bench_llm_scale.py commits them)."""

from __future__ import annotations

import numpy as np
import pytest

from opml.llm.calibrate import activation_ranges
from opml.llm.gguf_import import LayerWeights, LlamaConfig, LlamaWeights
from opml.llm.graph import build_decode_graph
from opml.merkle import depth_for
from opml.ml.model import Model
from opml.vm import layout

TINYLLAMA = LlamaConfig(dim=2048, n_layers=22, n_heads=32, n_kv_heads=4, ffn=5632, ctx=2048, vocab=32000, eps=1e-5,
                        rope_base=10000.0)
NARROW = dict(dim=16, n_heads=4, n_kv_heads=2, ffn=32, ctx=8, vocab=300)
SLOT_DEPTH_1B, NODE_DEPTH_1B = 11, 10  # what docs/llm.md "Limits" states


def _zero_weights(cfg: LlamaConfig) -> LlamaWeights:
    d, f, kv = cfg.dim, cfg.ffn, cfg.n_kv_heads * cfg.head_dim
    z = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    layers = [LayerWeights(z(d) + 1, z(d, d), z(kv, d), z(kv, d), z(d, d), z(d) + 1, z(f, d), z(f, d), z(d, f))
              for _ in range(cfg.n_layers)]
    return LlamaWeights(cfg, z(cfg.vocab, d), layers, z(d) + 1, z(cfg.vocab, d), tied=False)


def _graph(cfg: LlamaConfig) -> Model:
    """The decode-step graph of `cfg` with zero weights and unit activation ranges (names from a narrow model)."""
    narrow = LlamaConfig(**{**NARROW, "n_layers": cfg.n_layers, "eps": cfg.eps, "rope_base": cfg.rope_base})
    names = activation_ranges(_zero_weights(narrow), [[0, 1]])
    return build_decode_graph(_zero_weights(cfg), dict.fromkeys(names, 1.0), "shape").model


@pytest.fixture(scope="module")
def one_layer_1b() -> Model:
    return _graph(LlamaConfig(**{**TINYLLAMA.__dict__, "n_layers": 1}))


def test_every_tensor_of_the_1b_shape_fits_a_region_and_every_node_the_input_regions(one_layer_1b: Model) -> None:
    sizes = {t.name: t.type.nbytes for t in one_layer_1b.tensors}
    assert max(sizes.values()) == sizes["token_embd"] == sizes["output.weight"] == 32000 * 2048  # int8
    assert max(sizes.values()) <= 1 << layout.OUTPUT.log2_size
    assert sizes["k_cache.0"] == TINYLLAMA.ctx * TINYLLAMA.n_kv_heads * TINYLLAMA.head_dim
    assert max(len(n.inputs) for n in one_layer_1b.nodes) <= layout.INPUT_COUNT


def test_the_22_layer_graph_has_the_documented_tree_depths() -> None:
    """Slots and nodes grow by the same count per layer (measured on narrow 1- and 2-layer graphs); at 22 layers
    the slot tree and the node tree have the depths docs/llm.md states."""
    one, two = (_graph(LlamaConfig(**{**NARROW, "n_layers": n, "eps": 1e-5, "rope_base": 1e4})) for n in (1, 2))
    three = _graph(LlamaConfig(**{**NARROW, "n_layers": 3, "eps": 1e-5, "rope_base": 1e4}))
    per_slot, per_node = len(two.tensors) - len(one.tensors), len(two.nodes) - len(one.nodes)
    assert (len(three.tensors), len(three.nodes)) == (len(two.tensors) + per_slot, len(two.nodes) + per_node)
    slots = len(one.tensors) + (TINYLLAMA.n_layers - 1) * per_slot
    nodes = len(one.nodes) + (TINYLLAMA.n_layers - 1) * per_node
    assert (depth_for(slots), depth_for(nodes)) == (SLOT_DEPTH_1B, NODE_DEPTH_1B)
