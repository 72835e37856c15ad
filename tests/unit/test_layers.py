"""The import graph follows the data, one way: each package of `opml` imports only from the packages before it in
LAYERS (or its own), and no two modules import each other, however indirectly (imports inside functions count).
The root modules (hashing, merkle, paths, logs, processes, progress, cliargs) are the floor every room may use; `opml.cli` is the roof.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "opml"
LAYERS = ("", "vm", "kernels", "ml", "llm", "game", "levels", "chain", "stacks", "node", "explorer", "demos", "cli")


def imports(root: Path) -> dict[str, set[str]]:
    """module → the `opml` modules (or packages) it imports anywhere in its body, relative imports resolved."""
    paths = {".".join([root.name, *p.relative_to(root).with_suffix("").parts]).removesuffix(".__init__"): p
             for p in root.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join([*here[: len(here) - node.level + 1], *([node.module] if node.module else [])]
                                if node.level else [node.module or ""])
                modules = {f"{base}.{a.name}" for a in node.names} & paths.keys()  # `from pkg import module`
                found |= modules if len(modules) == len(node.names) else modules | {base}
        graph[name] = {m for m in found if m.split(".")[0] == root.name}
    return graph


def layer(module: str) -> int:
    """The layer of `opml.<room>...`: a root module other than cli is the floor (0)."""
    room = (module.split(".") + [""])[1]
    return LAYERS.index(room if room in LAYERS else "")


def upward_imports(root: Path) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in imports(root).items() for t in targets if layer(t) > layer(m))


def cycles(root: Path) -> list[list[str]]:
    """Every import cycle among modules, each as a path m0 → m1 → ... → m0 (found by depth-first search)."""
    graph = imports(root)
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(PACKAGE) == []


def test_no_import_cycles() -> None:
    assert cycles(PACKAGE) == []


def test_every_package_is_a_known_layer() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms <= set(LAYERS), f"a package without a place in LAYERS: {sorted(rooms - set(LAYERS))}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "opml"
    for name, text in {"__init__.py": "", "hashing.py": "", "vm/__init__.py": "", "node/__init__.py": "",
                       **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("statement", ["import opml.node.daemon", "from opml.node import daemon",
                                       "from ..node.daemon import run", "from .. import node",
                                       "def lazy():\n    from opml.node.daemon import run\n"])
def test_a_planted_upward_import_is_found(tmp_path: Path, statement: str) -> None:
    root = _tree(tmp_path, {"node/daemon.py": "from opml.vm import state\nfrom opml.hashing import keccak\n",
                            "vm/state.py": "from opml import hashing\n", "vm/memory.py": statement + "\n"})
    found = upward_imports(root)
    assert len(found) == 1 and found[0].startswith("opml.vm.memory imports opml.node"), found


def test_downward_and_sideways_imports_pass(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"node/daemon.py": "from opml.vm import state\nfrom . import bus\n", "node/bus.py": "",
                            "vm/state.py": "from opml.hashing import keccak\nfrom .memory import Memory\n",
                            "vm/memory.py": ""})
    assert upward_imports(root) == []


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"vm/interp.py": "from opml.vm.witness import build\n",
                            "vm/witness.py": "def run():\n    from .interp import step\n"})
    assert cycles(root) == [["opml.vm.interp", "opml.vm.witness", "opml.vm.interp"]]
