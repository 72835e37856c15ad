"""Contract build: every `contracts/**/*.sol` → one artifact `contracts/out/<Name>.json` (abi, bytecode,
deployedBytecode).

The compiler is the project's pinned solc-js (`node_modules/solc`), driven by py-solc-x through
`tools/solc-shim`. A build whose inputs (sources, settings, compiler) hash to the stamp recorded by the last build
is skipped; concurrent builds (pytest-xdist workers) serialize on a file lock.

    python -m opml.chain.build [--force]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
import structlog
from solcx.exceptions import SolcError

from opml.paths import REPO_ROOT

log = structlog.get_logger(__name__)

CONTRACTS_DIR = REPO_ROOT / "contracts"
OUT_DIR = CONTRACTS_DIR / "out"
SHIM = REPO_ROOT / "tools" / "solc-shim"
SOLC_JS_DIR = REPO_ROOT / "node_modules" / "solc"

# Anvil 1.7.1 runs the latest hardfork (post-Osaka) by default; Osaka adds the CLZ opcode the MIPS step uses.
EVM_VERSION = "osaka"
# viaIR: the IR pipeline moves variables to memory instead of failing with "stack too deep".
SETTINGS: dict[str, Any] = {
    "evmVersion": EVM_VERSION,
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
STAMP_NAME = ".build-stamp"


class BuildError(Exception):
    """The contracts could not be built (missing toolchain, compile errors, duplicate names)."""


class ArtifactNotFound(BuildError):
    """No artifact with that contract name exists in the output directory."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI and creation / runtime bytecode."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "deployedBytecode": "0x" + self.deployed_bytecode.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=data["abi"],
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(data["deployedBytecode"].removeprefix("0x")),
        )


def find_sources(contracts_dir: Path) -> dict[str, str]:
    """Source unit name (path relative to `contracts_dir`'s parent, e.g. `contracts/MIPS.sol`) → content."""
    root = contracts_dir.parent
    out_dir = contracts_dir / "out"
    files = sorted(p for p in contracts_dir.rglob("*.sol") if out_dir not in p.parents)
    return {p.relative_to(root).as_posix(): p.read_text() for p in files}


def check_toolchain(node: str = "node", solc_js_dir: Path = SOLC_JS_DIR, shim: Path = SHIM) -> None:
    """Raise BuildError naming the missing piece when node, solc-js or the shim is not usable."""
    if shutil.which(node) is None:
        raise BuildError(f"`{node}` (Node.js) is not on PATH; it runs the solc-js compiler. Run `make bootstrap`.")
    if not (solc_js_dir / "package.json").is_file():
        raise BuildError(f"solc-js is not installed at {solc_js_dir}. Run `make bootstrap` (it runs `npm ci`).")
    if not os.access(shim, os.X_OK):
        raise BuildError(f"the compiler shim {shim} is missing or not executable")


def inputs_hash(sources: dict[str, str], shim: Path = SHIM, solc_js_dir: Path = SOLC_JS_DIR) -> str:
    """Hash of everything an artifact depends on: sources, settings, shim and compiler version."""
    h = hashlib.sha256()
    h.update(json.dumps(SETTINGS, sort_keys=True).encode())
    h.update(shim.read_bytes() if shim.is_file() else b"no shim")
    compiler = solc_js_dir / "package.json"
    h.update(compiler.read_bytes() if compiler.is_file() else b"no compiler")
    for name, content in sorted(sources.items()):
        h.update(name.encode() + b"\0" + content.encode() + b"\0")
    return h.hexdigest()


def compile_sources(sources: dict[str, str], base_path: Path, shim: Path = SHIM) -> list[Artifact]:
    """Compile the sources with solc-js; BuildError carries solc's formatted messages on failure."""
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": content} for name, content in sources.items()},
        "settings": SETTINGS,
    }
    try:
        output = solcx.compile_standard(standard_input, base_path=str(base_path), solc_binary=shim)
    except SolcError as exc:
        detail = "\n".join(part.strip() for part in (exc.message, exc.stderr_data or "") if part.strip())
        raise BuildError(f"solc failed:\n{detail}") from exc
    for warning in output.get("errors", []):
        log.warning("solc_warning", message=warning.get("formattedMessage", "").strip())
    return _artifacts(output)


def _artifacts(output: dict[str, Any]) -> list[Artifact]:
    artifacts: dict[str, Artifact] = {}
    for source, contracts in output.get("contracts", {}).items():
        for name, compiled in contracts.items():
            if name in artifacts:
                raise BuildError(f"contract name {name} is defined in both {artifacts[name].source} and {source}")
            artifacts[name] = Artifact(
                name=name,
                source=source,
                abi=compiled["abi"],
                bytecode=bytes.fromhex(compiled["evm"]["bytecode"]["object"]),
                deployed_bytecode=bytes.fromhex(compiled["evm"]["deployedBytecode"]["object"]),
            )
    return list(artifacts.values())


def write_artifacts(artifacts: list[Artifact], out_dir: Path) -> None:
    """Replace the artifacts in `out_dir` atomically one by one; stale ones from removed contracts are deleted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts:
        tmp = out_dir / f".{artifact.name}.json.tmp"
        tmp.write_text(json.dumps(artifact.to_json(), indent=1) + "\n")
        tmp.replace(out_dir / f"{artifact.name}.json")
    current = {f"{artifact.name}.json" for artifact in artifacts}
    for old in out_dir.glob("*.json"):
        if old.name not in current:
            old.unlink()


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(
    contracts_dir: Path = CONTRACTS_DIR,
    out_dir: Path | None = None,
    *,
    force: bool = False,
    node: str = "node",
    solc_js_dir: Path = SOLC_JS_DIR,
) -> bool:
    """Compile `contracts_dir` into `out_dir` (default `<contracts_dir>/out`) unless up to date.

    Returns True when it compiled, False when the recorded stamp matched and the build was skipped.
    """
    out_dir = out_dir or contracts_dir / "out"
    sources = find_sources(contracts_dir)
    if not sources:
        raise BuildError(f"no Solidity sources under {contracts_dir}")
    with _locked(out_dir):
        stamp = out_dir / STAMP_NAME
        digest = inputs_hash(sources, solc_js_dir=solc_js_dir)
        if not force and stamp.is_file() and stamp.read_text().strip() == digest:
            log.debug("contracts_up_to_date", out_dir=str(out_dir))
            return False
        check_toolchain(node, solc_js_dir)
        artifacts = compile_sources(sources, contracts_dir.parent)
        write_artifacts(artifacts, out_dir)
        stamp.write_text(digest + "\n")
        log.info("contracts_built", count=len(artifacts), out_dir=str(out_dir))
        return True


_built_dirs: set[Path] = set()


def ensure_built(contracts_dir: Path = CONTRACTS_DIR) -> None:
    """Build the project's contracts if needed (checked once per process)."""
    if contracts_dir not in _built_dirs:
        build(contracts_dir)
        _built_dirs.add(contracts_dir)


def load_artifact(name: str, contracts_dir: Path = CONTRACTS_DIR) -> Artifact:
    """The artifact of contract `name`, building the contracts first if their sources changed."""
    ensure_built(contracts_dir)
    path = contracts_dir / "out" / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json"))
        raise ArtifactNotFound(f"no contract named {name!r}; built contracts: {', '.join(known) or 'none'}")
    return Artifact.from_json(json.loads(path.read_text()))


def main(argv: list[str]) -> int:
    try:
        compiled = build(force="--force" in argv)
    except BuildError as exc:
        print(f"contract build failed: {exc}", file=sys.stderr)
        return 1
    print("contracts: built" if compiled else "contracts: up to date")
    return 0


if __name__ == "__main__":
    from opml.logs import configure

    configure("console", "warning", stream=sys.stderr)  # the one-line result above says what happened
    sys.exit(main(sys.argv[1:]))
