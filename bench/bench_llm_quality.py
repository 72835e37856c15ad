"""The shipped llama (models/llm/moby.gguf and its integer model moby.opml) on held-out Moby-Dick text.

`llm_top1_agreement`: the integer decode step's next token (ArgMax of the int32 logits) equals the float
reference's on held-out positions (windows of BOS + 127 tokens from the start of the held-out split, ≥ 1,000
positions); `llm_ppl_float` / `llm_ppl_int8`: perplexity of the float logits and of the integer logits read at
their scale, on the same positions. `llm_vm_decode_step_s`: one decode step of the full model with every node
recomputed in the MIPS VM (fast executor), kernel by kernel; `llm_vm_decode_step_match` is 1 when the VM gave the
native bits for every node.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from opml.llm.forward import FloatLlama
from opml.llm.gguf_import import read_gguf
from opml.llm.llmfile import load
from opml.llm.runtime import IntLlama, step_inputs
from opml.llm.text import load_moby_dick, split_text
from opml.llm.vmstep import vm_decode_step
from opml.ml.vmrun import run_node

ROOT = Path(__file__).resolve().parents[1]
GGUF = ROOT / "models/llm/moby.gguf"
OPML = ROOT / "models/llm/moby.opml"
WINDOWS = 8


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def held_out_windows(tok, ctx: int, count: int) -> list[list[int]]:
    _, held = split_text(load_moby_dick(ROOT))
    ids = tok.encode(held)
    step = ctx - 1
    return [[tok.bos_id, *ids[i * step:(i + 1) * step]] for i in range(count)]


def run() -> dict[str, float | int]:
    weights, tok = read_gguf(GGUF)
    llm = load(OPML)
    fmodel, imodel = FloatLlama(weights), IntLlama(llm)
    agree, nll_f, nll_i, n = 0, 0.0, 0.0, 0
    started = time.perf_counter()
    for window in held_out_windows(tok, weights.config.ctx, WINDOWS):
        floats = fmodel.forward(window)[:-1]
        imodel.reset()
        ints = np.stack([imodel.step(t, p) for p, t in enumerate(window[:-1])]).astype(np.float64) * llm.logit_scale
        targets = np.asarray(window[1:])
        rows = np.arange(len(targets))
        agree += int(np.sum(np.argmax(floats, axis=1) == np.argmax(ints, axis=1)))
        nll_f -= float(_log_softmax(floats)[rows, targets].sum())
        nll_i -= float(_log_softmax(ints)[rows, targets].sum())
        n += len(targets)
    int_steps_s = (time.perf_counter() - started) / n
    prefix = held_out_windows(tok, weights.config.ctx, 1)[0][:16]
    imodel.reset()
    for p, t in enumerate(prefix[:-1]):
        imodel.step(t, p)
    first = llm.graph.nodes[0]  # load the VM executor's compiled code before timing
    inputs = step_inputs(prefix[-1], len(prefix) - 1, imodel.caches)
    run_node(first, [llm.graph.constants.get(s, inputs.get(llm.graph.tensors[s].name)) for s in first.inputs])
    started = time.perf_counter()
    vm = vm_decode_step(llm, prefix[-1], len(prefix) - 1, imodel.caches)
    vm_s = time.perf_counter() - started
    return {
        "llm_top1_agreement": round(agree / n, 4),
        "llm_eval_positions": n,
        "llm_ppl_float": round(float(np.exp(nll_f / n)), 3),
        "llm_ppl_int8": round(float(np.exp(nll_i / n)), 3),
        "llm_int8_reference_step_s": round(int_steps_s, 4),
        "llm_vm_decode_step_s": round(vm_s, 2),
        "llm_vm_decode_step_instructions": vm.steps,
        "llm_vm_decode_step_match": int(not vm.mismatches and np.array_equal(vm.logits_vm, vm.logits_native)),
    }
