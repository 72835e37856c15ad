"""docs/game.md names every function, event and custom error of the game contracts' ABIs (so the page the
off-chain nodes are written against cannot silently drift from the contracts)."""

from __future__ import annotations

import re

import pytest

from opml.chain.build import load_artifact
from opml.paths import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "game.md").read_text()
CONTRACTS = ("ModelRegistry", "Coordinator", "DisputeGame", "ILinkVerifier", "IStepVerifier", "IOpmlConsumer",
             "ToyLinkVerifier", "ToyStepVerifier", "FixedStartLinkVerifier", "VmCommitment", "VmLinkVerifier")


def _entries(contract: str) -> list[tuple[str, str]]:
    return [(e["type"], e["name"]) for e in load_artifact(contract).abi if e["type"] in ("function", "event", "error")]


@pytest.mark.usefixtures("contracts_built")
@pytest.mark.parametrize("contract", CONTRACTS)
def test_every_abi_entry_is_documented(contract: str) -> None:
    missing = [f"{kind} {name}" for kind, name in _entries(contract)
               if not re.search(rf"`{name}\b", DOC) and not re.search(rf"\b{name}\(", DOC)]
    assert not missing, f"docs/game.md does not mention {contract}'s {', '.join(missing)}"


@pytest.mark.usefixtures("contracts_built")
def test_every_documented_error_exists() -> None:
    known = {name for c in CONTRACTS for kind, name in _entries(c) if kind == "error"}
    documented = set(re.findall(r"`([A-Z][A-Za-z]+)\((?:[a-zA-Z, ]*)\)`", DOC))
    events = {name for c in CONTRACTS for kind, name in _entries(c) if kind == "event"}
    contracts = {p.stem for p in (REPO_ROOT / "contracts").rglob("*.sol")}
    not_errors = documented - known - events - contracts - {"Model", "Game"}
    assert not not_errors, f"docs/game.md names errors no contract declares: {sorted(not_errors)}"
