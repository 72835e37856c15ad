"""Generation disputes on big and small LLMs: a lying submitter changes one generated token, an honest challenger
disputes it down to one MIPS step executed on chain (request → token → graph → tile → VM, every link checked).

Figures (one dispute each, on a fresh Anvil, the liar's token drawn from one seed, `llm_dispute_seed`;
OPML_BENCH_SEED fixes it):
- `llm_dispute_wall_s`, `llm_dispute_txs`, `llm_dispute_gas`: the 110 M synthetic model (bench/llm_synthetic.py),
  an 8-token prompt and 32 generated tokens (greedy), the wrong token at a random generated position; wall time
  from `challenge` to resolution with both parties' traces computed in it (their providers are fresh and lazy: the
  honest challenger's whole generation, the opened decode step's graph, the tile's VM run, the witnesses);
  transactions and gas from the challenge on. Bar ≤ 60 s and ≤ 40 transactions, goal ≤ 20 s.
  `llm_dispute_commit_s`: the model's commitment before it (registration; not in the wall time);
  `llm_dispute_submit_s`: the lying submitter's generation before it submits (not in the wall time either).
- `llm_dispute_tiny_wall_s` (and `_txs`, `_gas`): the same on the trained model (models/llm/moby.opml).
"""

from __future__ import annotations

import os
import random
import time

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.build import ensure_built
from opml.chain.tx import TxSender
from opml.game.types import Role
from opml.levels.generation_lies import WrongToken, generation_party
from opml.levels.llm_commitment import commit_llm
from opml.llm.generation import GenerationRequest
from opml.llm.llmfile import LLMModel, load
from opml.paths import REPO_ROOT
from opml.stacks.dispute import DisputeOutcome, Senders, play_dispute
from opml.stacks.llm import deploy_llm_stack

from .bench_llm_speed import _import
from .llm_synthetic import ensure_gguf

GENERATED = 32
PROMPT_TOKENS = 8
TRAINED = REPO_ROOT / "models" / "llm" / "moby.opml"


def dispute(llm: LLMModel, rng: random.Random) -> tuple[DisputeOutcome, dict[str, float]]:
    """One dispute over a greedy generation of GENERATED tokens whose token at a random position is wrong."""
    timings = {}
    started = time.perf_counter()
    commitment = commit_llm(llm)
    timings["commit_s"] = time.perf_counter() - started
    prompt = (llm.tokenizer.bos_id, *(rng.randrange(2, llm.config.vocab) for _ in range(PROMPT_TOKENS - 1)))
    request = GenerationRequest(prompt, GENERATED, 0, salt=rng.randrange(1 << 64))
    step = request.steps - GENERATED + rng.randrange(GENERATED)  # a step whose next_token is a generated token
    liar = generation_party(commitment, request.encode(), {WrongToken(step, None)})
    started = time.perf_counter()
    liar.submission()
    timings["submit_s"] = time.perf_counter() - started
    honest = generation_party(commitment, request.encode())
    with Anvil() as node:
        ensure_built()
        w3 = node.web3()
        stack = deploy_llm_stack(w3)
        model_id = stack.register(commitment)
        errors = stack.bindings.errors()
        senders = Senders(*(TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3)))
        outcome = play_dispute(stack, model_id, liar, honest, senders)
    if outcome.winner is not Role.CHALLENGER or outcome.step is None:
        raise RuntimeError(f"the dispute over a wrong token at step {step} went wrong: {outcome}")
    return outcome, timings


def run() -> dict[str, float | int]:
    seed = int(os.environ.get("OPML_BENCH_SEED") or random.SystemRandom().randrange(1 << 32))
    figures: dict[str, float | int] = {"llm_dispute_seed": seed}
    for prefix, llm in (("llm_dispute_tiny", load(TRAINED)), ("llm_dispute", _import(ensure_gguf("110m")))):
        outcome, timings = dispute(llm, random.Random(seed))
        figures.update({f"{prefix}_wall_s": round(outcome.wall_s, 2), f"{prefix}_txs": outcome.txs,
                        f"{prefix}_gas": outcome.gas, f"{prefix}_commit_s": round(timings["commit_s"], 1),
                        f"{prefix}_submit_s": round(timings["submit_s"], 1)})
        print(f"   {prefix}: {outcome.txs} txs, {outcome.gas:,} gas, {outcome.wall_s:.1f} s, openings "
              f"{outcome.openings}, step {outcome.final.lo}→{outcome.final.hi}", flush=True)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
