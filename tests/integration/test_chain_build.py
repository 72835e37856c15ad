"""The contract build: artifacts, up-to-date skipping, and clear errors for a missing toolchain or bad source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opml.chain.build import ArtifactNotFound, BuildError, build, load_artifact

GOOD = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;
contract Counter {
    uint256 public count;
    function bump(uint256 by) external { count += by; }
}
"""
OTHER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;
import {Counter} from "./Counter.sol";
contract Holder { Counter public counter; }
"""
BROKEN = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;
contract Broken { function f() external { undefinedThing(); } }
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    contracts = tmp_path / "contracts"
    (contracts / "sub").mkdir(parents=True)
    (contracts / "Counter.sol").write_text(GOOD)
    (contracts / "sub" / "Holder.sol").write_text(OTHER.replace("./Counter.sol", "../Counter.sol"))
    return contracts


def test_build_writes_one_artifact_per_contract(project: Path) -> None:
    assert build(project) is True
    names = sorted(p.name for p in (project / "out").glob("*.json"))
    assert names == ["Counter.json", "Holder.json"]
    counter = json.loads((project / "out" / "Counter.json").read_text())
    assert {item["name"] for item in counter["abi"] if item["type"] == "function"} == {"count", "bump"}
    assert counter["bytecode"].startswith("0x6080") and len(counter["deployedBytecode"]) > 10
    assert counter["sourceName"] == "contracts/Counter.sol"


def test_unchanged_sources_skip_the_compiler_and_changes_rebuild(project: Path) -> None:
    assert build(project) is True
    assert build(project) is False
    (project / "sub" / "Holder.sol").unlink()
    assert build(project) is True
    assert not (project / "out" / "Holder.json").exists()
    assert build(project, force=True) is True


def test_compile_error_reports_solc_message(project: Path) -> None:
    (project / "Broken.sol").write_text(BROKEN)
    with pytest.raises(BuildError) as info:
        build(project)
    message = str(info.value)
    assert "DeclarationError" in message and "undefinedThing" in message
    assert "contracts/Broken.sol" in message


def test_missing_node_says_to_bootstrap(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BuildError, match="make bootstrap"):
        build(project)
    assert not (project / "out" / "Counter.json").exists()


def test_up_to_date_build_needs_no_toolchain(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert build(project) is True
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert build(project) is False
    (project / "Counter.sol").write_text(GOOD.replace("count += by", "count += 2 * by"))
    with pytest.raises(BuildError, match="make bootstrap"):
        build(project)


def test_missing_solc_js_says_to_bootstrap(project: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="make bootstrap"):
        build(project, solc_js_dir=tmp_path / "node_modules" / "solc")


def test_no_sources_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    with pytest.raises(BuildError, match="no Solidity sources"):
        build(tmp_path / "contracts")


def test_load_artifact_of_project_and_unknown_name() -> None:
    mips = load_artifact("MIPS")
    assert {item["name"] for item in mips.abi if item["type"] == "error"} >= {
        "InvalidStateLength", "InvalidState", "InvalidProofLength", "InvalidMemoryProof", "PreStateMismatch",
    }
    assert len(mips.deployed_bytecode) < 24576  # EIP-170 code size limit
    with pytest.raises(ArtifactNotFound, match="NoSuchContract"):
        load_artifact("NoSuchContract")
