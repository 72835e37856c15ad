"""`opml demo --llm` end to end: a subprocess that starts its own devnet and three daemons on the LLM stack and must
end by itself with both honest continuations finalized and delivered to the GenerationConsumer as the reference
text, the submitter that changed one token slashed by one MIPS step in the decode step it lied in, and no process
of its own left running. Few tokens keep it short.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opml.llm.generation import encode_output, generate_tokens
from opml.llm.llmfile import load
from opml.node.llm_requests import generated_text, generation_request
from opml.paths import REPO_ROOT

PROMPTS = ("Call me Ishmael.", "The white whale")
TOKENS = 4


def test_the_llm_demo_delivers_the_honest_continuations_and_slashes_the_liar(tmp_path: Path,
                                                                              contracts_built: None) -> None:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, "-m", "opml.cli", "demo", "--llm", "--max-tokens", str(TOKENS),
                           "--json", str(summary_path)], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    out = done.stdout
    assert done.returncode == 0, f"demo failed ({done.returncode}):\n{out}\n{done.stderr[-3000:]}"
    summary = json.loads(summary_path.read_text())
    llm = load(REPO_ROOT / "models" / "llm" / "moby.opml")
    honest = {str(i): generated_text(llm, encode_output(generate_tokens(
        llm, generation_request(llm, prompt, TOKENS, 0.6, 7)))) for i, prompt in enumerate(PROMPTS, start=1)}
    assert summary["prompts"] == {"1": PROMPTS[0], "2": PROMPTS[1]}
    assert summary["honest"] == honest
    assert summary["finalized"] == {"1": "Alice", "2": "Alice"}
    assert summary["delivered"] == honest  # GenerationConsumer.tokensOf, decoded: the reference continuations
    assert summary["slashed"] == {"2": "Mallory"}
    assert summary["submitted"] == {"1": ["Alice"], "2": ["Mallory", "Alice"]}
    (game,) = summary["games"].values()
    assert game["winner"] == "Bob" and game["by_step"] is True
    assert [level for level, _, _ in game["levels"]] == [0, 1, 2, 3]  # token, graph, tile, VM
    prompt_tokens = len(generation_request(llm, PROMPTS[1], TOKENS).prompt)
    assert game["levels"][1][1] == prompt_tokens - 1 + summary["lie_at_token"]  # the decode step that lied
    assert game["step"].startswith("pc 0x")
    assert "MIPS.stepFrom executes it on chain" in out and "Bob wins by the MIPS step" in out
    assert "GenerationConsumer.tokensOf" in out and "cleanup:" in out
    assert summary["processes_left"] == []
    for name, pid in summary["pids"].items():
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z", f"{name} ({pid}) still runs"
