"""The Sample op on the shipped llama: how close its integer distribution is to the tempered softmax, and its cost
in the MIPS VM.

`llm_sample_tv_t1` / `llm_sample_tv_t07`: the mean total-variation distance, over held-out positions (windows of
BOS + 127 tokens of the held-out split, the logits of the integer decode step), between the distribution the
Sample op draws from (`w / Σw`, docs/ops.md "Sample") at temperature 1 / 0.7 and the float softmax of the same
int32 logits read at their scale; 0 is exact. `llm_sample_vm_steps_2k` / `_32k`: VM instructions of one Sample
node over the shipped vocabulary (2,048) and TinyLlama's (32,000), the same for every logits and temperature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from opml.llm.fast import FastLlama
from opml.llm.graph import sampling_words
from opml.llm.llmfile import load
from opml.llm.runtime import temperature_q16
from opml.llm.text import load_moby_dick, split_text
from opml.ml import ops
from opml.ml import transformer_consts as tc
from opml.ml.model import Node
from opml.ml.ops import OpType
from opml.ml.reference import sample_weights
from opml.ml.vmrun import run_node

ROOT = Path(__file__).resolve().parents[1]
OPML = ROOT / "models/llm/moby.opml"
WINDOWS = 2


def _held_out_logits(llm) -> np.ndarray:
    tok, ctx = llm.tokenizer, llm.config.ctx
    ids = tok.encode(split_text(load_moby_dick(ROOT))[1])
    model, rows = FastLlama(llm), []
    for w in range(WINDOWS):
        model.reset()
        window = [tok.bos_id, *ids[w * (ctx - 1):(w + 1) * (ctx - 1)]]
        rows += [model.step(t, p) for p, t in enumerate(window)]
    return np.stack(rows)


def total_variation(logits: np.ndarray, logit_scale: float, temperature: float, attrs) -> float:
    """Mean TV distance between the op's weights and softmax(logits · scale / T), row by row."""
    table, tq = tc.exp2_table(), temperature_q16(temperature)
    distances = []
    for row in logits:
        w = sample_weights(row, tq, table, attrs).astype(np.float64)
        z = (row.astype(np.float64) - row.max()) * logit_scale / temperature
        p = np.exp(z) / np.exp(z).sum()
        distances.append(0.5 * np.abs(w / w.sum() - p).sum())
    return float(np.mean(distances))


def vm_steps(vocab: int, logit_scale: float) -> int:
    rng = np.random.default_rng(vocab)
    node = Node.make(OpType.SAMPLE, [0, 1, 2, 3], 4, tc.sample_attrs(logit_scale))
    inputs = [rng.integers(-20000, 20000, (1, vocab), dtype=np.int32), sampling_words(12345, 1 << 16),
              np.array([[7]], np.int32), tc.exp2_table()]
    run = run_node(node, inputs)
    assert np.array_equal(run.output, ops.evaluate(node.op, inputs, node.attrs))
    return run.steps


def run() -> dict[str, float | int]:
    llm = load(OPML)
    (node,) = [n for n in llm.graph.nodes if n.op is OpType.SAMPLE]
    logits = _held_out_logits(llm)
    return {
        "llm_sample_tv_t1": round(total_variation(logits, llm.logit_scale, 1.0, node.attrs), 5),
        "llm_sample_tv_t07": round(total_variation(logits, llm.logit_scale, 0.7, node.attrs), 5),
        "llm_sample_positions": int(len(logits)),
        "llm_sample_vm_steps_2k": vm_steps(llm.config.vocab, llm.logit_scale),
        "llm_sample_vm_steps_32k": vm_steps(32000, llm.logit_scale),
    }
