"""LLMs at scale: committing a TinyLlama-1.1B-shaped model, and native generation with the 110 M one.

Figures (one run, synthetic-weight GGUF files of bench/llm_synthetic.py):
- `llm_commit_1b_s`: the full commitment of the 1.1B decode-step graph (`commit_llm`: every weight's tensor
  commitment, the constants and node trees, the tiling plan measured in the VM, the graph root) with an empty
  region-tree cache, in a fresh process (the import of the GGUF file before it is not counted), and
  `llm_commit_1b_cpu_s` the CPU seconds it used (all threads: on a machine shared with other work the wall time
  stretches, the CPU time does not; on two idle cores the wall time is about half of it);
  `llm_commit_1b_weights_s`: the weights' tensor commitments alone (the batched keccak trees of 1.1 GB);
  `llm_commit_1b_cached_s`: the weights' commitments again in a fresh cache that finds their page roots on disk
  (what a node restart pays: one sha256 pass over the weights, no keccak tree); `llm_commit_1b_max_vm_depth`,
  `llm_commit_1b_nodes`, `llm_commit_1b_slots`: the plan's deepest VM trace, the node and tensor slot counts;
- `llm_generate_32_s`: 32 tokens generated natively (`opml.llm.generation.generate_tokens`: the fast decoder, the
  8-token prompt as one batch, then one decode step per token) with the 110 M model, after a warm-up generation.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench_llm_speed import _import
from .llm_synthetic import ensure_gguf

GENERATED = 32
PROMPT = [0, 72, 101, 108, 108, 111, 44, 32]  # BOS and the bytes of "Hello, " (byte tokens of the synthetic vocab)
ROOT = Path(__file__).resolve().parent.parent


def generate_s(llm, tokens: int = GENERATED) -> float:
    """Seconds of `generate_tokens` for a greedy request of `tokens` tokens after PROMPT (the fast decoder, the
    prompt as one batch), after one warm-up generation."""
    from opml.llm.fast import FastLlama
    from opml.llm.generation import GenerationRequest, generate_tokens

    model, request = FastLlama(llm), GenerationRequest(tuple(PROMPT), tokens, 0, salt=1)
    took = []
    for _ in range(2):
        started = time.perf_counter()
        if len(generate_tokens(llm, request, model)) != tokens:
            raise RuntimeError("generate_tokens returned another token count")
        took.append(time.perf_counter() - started)
    return took[-1]


def _cpu_s() -> float:
    """CPU seconds this process has used (user + system, every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def commit_figures(gguf: Path) -> dict:
    """The 1.1B commitment figures, measured in this process (run it fresh: `--commit-1b GGUF`)."""
    from opml.levels.commitments import tensor_commitment
    from opml.levels.llm_commitment import commit_llm
    from opml.vm import regiontree

    llm = _import(gguf)
    with tempfile.TemporaryDirectory() as cache:
        regiontree._CACHE = regiontree.TreeCache(Path(cache))
        started, cpu = time.perf_counter(), _cpu_s()
        commitment = commit_llm(llm)
        roots = commitment.roots
        commit_s, commit_cpu_s = time.perf_counter() - started, _cpu_s() - cpu
        constants = llm.graph.constants
        regiontree._CACHE = regiontree.TreeCache(Path(cache) / "weights-only")
        started = time.perf_counter()
        weights = {slot: tensor_commitment(data, persist=True) for slot, data in constants.items()}
        weights_s = time.perf_counter() - started
        regiontree._CACHE = regiontree.TreeCache(Path(cache) / "weights-only")
        started = time.perf_counter()
        again = {slot: tensor_commitment(data, persist=True) for slot, data in constants.items()}
        cached_s = time.perf_counter() - started
    if again != weights or weights != commitment.constant_commitments:
        raise RuntimeError("the cached weight commitments differ from the computed ones")
    return {"llm_commit_1b_s": round(commit_s, 1), "llm_commit_1b_cpu_s": round(commit_cpu_s, 1), "llm_commit_1b_weights_s": round(weights_s, 1),
            "llm_commit_1b_cached_s": round(cached_s, 1), "root": roots[0].hex(),
            "llm_commit_1b_max_vm_depth": max(node.vm_depth for node in commitment.nodes),
            "llm_commit_1b_nodes": len(commitment.nodes), "llm_commit_1b_slots": len(llm.graph.tensors)}


def run() -> dict:
    figures: dict[str, float | int] = {}
    figures["llm_generate_32_s"] = round(generate_s(_import(ensure_gguf("110m"))), 3)
    done = subprocess.run([sys.executable, "-m", "bench.bench_llm_scale", "--commit-1b", str(ensure_gguf("1b"))],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    big = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update({k: v for k, v in big.items() if k.startswith("llm_")})
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--commit-1b":
        print(json.dumps(commit_figures(Path(sys.argv[2]))))
    else:
        print(json.dumps(run()))
