"""An imported BERT encoder (tests/data/encoders) in the MIPS VM: one node of each kind the encoder import
emits — the token-row split, the embedding lookup, LayerNorm, a layer's attention with the padding mask, the mean
pooling's zero-score attention, the GELU table — recomputed by its kernel equals the native run bit for bit.
(The whole model node by node is `opml model run --vm`.)"""

from __future__ import annotations

import encoder_models as E
import numpy as np

from opml.ml import executor
from opml.ml.encoder_input import pack_tokens
from opml.ml.onnx_import import quantize_onnx, read_onnx
from opml.ml.ops import OpType
from opml.ml.vmrun import run_node


def _one_of_each(model) -> list[int]:
    """Indices of the first node of each (op, is-mean-pooling) kind the encoder uses beyond Reshape."""
    seen, picked = set(), []
    for index, node in enumerate(model.nodes):
        kind = (node.op, node.op is OpType.ATTENTION and node.attrs.score_multiplier == 0,
                node.op is OpType.GATHER and node.inputs[0] == model.inputs[0])
        if node.op is not OpType.RESHAPE and kind not in seen:
            seen.add(kind)
            picked.append(index)
    return picked


def test_encoder_nodes_in_the_vm_match_the_native_run():
    rng = np.random.default_rng(11)
    model = read_onnx(E.ENCODERS["bert_mean_erf"])
    quantized = quantize_onnx(model, E.token_batch(rng, 32), name="bert_mean_erf")
    sequence = {k: v[0] for k, v in E.token_batch(rng, 1, min_len=5).items()}
    sequence["attention_mask"][-4:] = 0  # padded keys
    trace = executor.run(quantized.model, pack_tokens(quantized.model, sequence))
    picked = _one_of_each(quantized.model)
    ops = {quantized.model.nodes[i].op for i in picked}
    assert {OpType.GATHER, OpType.LAYER_NORM, OpType.ATTENTION, OpType.LUT, OpType.FULLY_CONNECTED} <= ops
    assert sum(quantized.model.nodes[i].op is OpType.ATTENTION for i in picked) == 2  # a layer's; mean pooling
    for index in picked:
        node = quantized.model.nodes[index]
        result = run_node(node, trace.node_inputs(index))
        assert np.array_equal(result.output, trace.outputs[node.output]), (index, node.op)
