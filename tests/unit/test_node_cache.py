"""The node's disk cache is kept per chain: another chain's directory (or an older node's unkeyed layout) is
foreign, what every chain shares (fetched model files, tiling plans) is not; a claim keeps its budget verdict."""

from __future__ import annotations

from pathlib import Path

from opml.node.cache import ChainIdentity, ClaimCache, chain_state_dir, foreign_state


def test_other_chains_are_foreign_shared_entries_are_not(tmp_path: Path) -> None:
    here, there = ChainIdentity(31337, 5, b"\1" * 32), ChainIdentity(31337, 5, b"\2" * 32)
    for path in (chain_state_dir(tmp_path, here), chain_state_dir(tmp_path, there), tmp_path / "intents",
                 tmp_path / "models", tmp_path / "plans", tmp_path / ".tmp"):
        path.mkdir()
    assert foreign_state(tmp_path, here) == sorted([there.name, "intents"])
    assert foreign_state(tmp_path / "absent", here) == []


def test_a_claim_keeps_its_refusal(tmp_path: Path) -> None:
    claims = ClaimCache(tmp_path)
    claims.note_refusal(1, b"\3" * 32, "too long")  # no claim yet: nothing to keep it with
    assert claims.get(1, b"\3" * 32) is None
    claims.put(1, b"\3" * 32, b"out", b"\4" * 32, b"\5" * 32, runs_vm=True)
    assert "refusal" not in claims.get(1, b"\3" * 32)  # not checked yet
    claims.note_refusal(1, b"\3" * 32, None)
    assert claims.get(1, b"\3" * 32) == {"output": b"out".hex(), "output_commitment": "04" * 32,
                                         "trace_commitment": "05" * 32, "runs_vm": True, "refusal": None}
