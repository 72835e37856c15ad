"""`opml demo` end to end, as `make demo` runs it: a subprocess that starts its own devnet and three daemons, and
must end by itself with the honest results finalized and delivered, the liar slashed by one MIPS step, and no
process of its own left running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from opml.paths import REPO_ROOT


def test_demo_finalizes_the_honest_results_and_slashes_the_liar(tmp_path: Path, contracts_built: None) -> None:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, "-m", "opml.cli", "demo", "--json", str(summary_path)],
                          capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
    out = done.stdout
    assert done.returncode == 0, f"demo failed ({done.returncode}):\n{out}\n{done.stderr[-3000:]}"
    summary = json.loads(summary_path.read_text())
    labels = {int(k): v for k, v in summary["labels"].items()}
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        assert sorted(labels.values()) == sorted(int(data["test_y"][i]) for i in (1401, 400, 800))
    # every request ends finalized with Alice's (honest) answer, delivered to the consumer contract
    assert summary["finalized"] == {"1": "Alice", "2": "Alice", "3": "Alice"}
    delivered = {int(k): v for k, v in summary["delivered"].items()}
    assert set(delivered) == {1, 2, 3} and all(v is not None for v in delivered.values())
    assert delivered == labels  # the default digits are ones the CNN reads right
    # Mallory's answer to request 2 was disputed down graph → tile → VM and decided by the MIPS step
    assert summary["slashed"] == {"2": "Mallory"}
    assert summary["submitted"] == {"1": ["Alice"], "2": ["Mallory", "Alice"], "3": ["Alice"]}
    (game,) = summary["games"].values()
    assert game["winner"] == "Bob" and game["by_step"] is True
    assert [level for level, _, _ in game["levels"]] == [0, 1, 2]
    assert game["step"].startswith("pc 0x")
    bond = 2 * 10**18
    assert summary["burned_wei"] == bond // 10
    assert summary["balance_change_wei"]["mallory"] < -bond + 10**16  # the bond is gone (and some gas)
    assert summary["balance_change_wei"]["bob"] > bond - bond // 10 - 10**16  # 90% of it, less gas
    assert summary["mqtt_messages"].get("disputes", 0) >= 1  # the daemons' progress reached the broker
    # the narrative names the decisive step and the delivery; nothing the demo started is still running
    assert "MIPS.stepFrom executes it on chain" in out and "Bob wins by the MIPS step" in out
    assert "delivered to the consumer contract" in out and "cleanup:" in out
    # the explorer followed it all: its URL printed, the three requests and the game indexed
    assert "explorer: http://127.0.0.1:" in out
    assert summary["explorer"] is not None and summary["explorer"]["requests"] == 3
    assert summary["explorer"]["games"] == 1 and "explorer" in summary["pids"]
    assert summary["processes_left"] == []
    for name, pid in summary["pids"].items():
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z", f"{name} ({pid}) still runs"
