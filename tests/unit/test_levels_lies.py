"""Lies are laid over the honest levels from outside: the honest providers (request → graph → tile → VM) never
import `opml.levels.faults` or `opml.levels.lies`, an honest node's claim and every move of its dispute run no
line of them, and a lying level differs from the honest one it wraps only where its lie says."""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from test_levels_commitments import tiny_cnn, tiny_commitment, tiny_image

from opml.game.toy import ToyTrace
from opml.game.trace import TraceProvider
from opml.levels import faults, lies
from opml.levels.faults import ForgeGraphLink, ForgeTileLink, WrongOutput, believed_values
from opml.levels.graph_level import GraphLevel
from opml.levels.kernel_level import LyingVmRequestProvider, VmRequestProvider
from opml.levels.lies import LyingGraphLevel, LyingRequestLevel, LyingTileLevel
from opml.levels.request_level import RequestLevel
from opml.levels.tile_level import TileLevel
from opml.levels.vm_level import LyingVmLevel, VmLevel
from opml.ml.modelfile import save
from opml.node.backend_api import RequestInput
from opml.node.daemon import LazyProvider
from opml.node.ml_backend import MlBackend
from opml.node.vm_timing import TimedProvider
from opml.paths import REPO_ROOT

LEVELS = REPO_ROOT / "services" / "opml" / "levels"
HONEST_MODULES = ("request_level", "graph_level", "tile_level", "vm_level")
LIE_FILES = {Path(faults.__file__).resolve(), Path(lies.__file__).resolve()}


def _imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from … import` in `path` names (relative ones as written, without dots)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module or ''}.{alias.name}".lstrip(".") for alias in node.names)
    return names


@pytest.mark.parametrize("module", HONEST_MODULES)
def test_honest_levels_never_import_the_lies(module: str) -> None:
    imported = _imported_modules(LEVELS / f"{module}.py")
    offending = {name for name in imported if {"faults", "lies"} & set(name.split("."))}
    assert not offending, f"{module}.py imports {offending}"


def _files_run_during(action: Callable[[], None]) -> set[Path]:
    """The source files of every Python function called while `action` runs (this thread)."""
    seen: set[str] = set()

    def profile(frame, event: str, _arg) -> None:  # noqa: ANN001
        if event == "call":
            seen.add(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return {Path(name).resolve() for name in seen if not name.startswith("<")}


def _play_every_move(provider: TraceProvider) -> None:
    """Asks `provider` what a dispute may: every root and every opening (sub-level and link proof) of a request or
    graph level, every root and the last opening of a tile level, a VM level's first, middle and last roots and the
    middle step's witness."""
    if provider.is_last_level:
        for i in (0, provider.length // 2, provider.length):
            provider.root_at(i)
        provider.step_witness(provider.length // 2)
        return
    for i in range(provider.length + 1):
        provider.root_at(i)
    for k in [provider.length - 1] if isinstance(provider, TileLevel) else range(provider.length):
        sub, _proof = provider.open_next(k)
        _play_every_move(sub)


def test_an_honest_claim_and_its_dispute_run_no_line_of_the_lies(tmp_path: Path) -> None:
    save(tiny_cnn(), tmp_path / "tiny.opml")
    backend = MlBackend(tmp_path / "tiny.opml")
    request = RequestInput(1, 1, tiny_image().tobytes(), bytes(32))

    def honest_party() -> None:
        claim = backend.claim(request)
        _play_every_move(claim.provider)

    ran = _files_run_during(honest_party)
    assert LEVELS / "graph_level.py" in ran and LEVELS / "vm_level.py" in ran  # the profile saw the levels run
    assert not ran & LIE_FILES, f"the honest path ran {sorted(p.name for p in ran & LIE_FILES)}"


def test_the_planted_lie_file_check_sees_a_lie_run() -> None:
    ran = _files_run_during(lambda: faults.forged(bytes(32)))
    assert ran & LIE_FILES == {Path(faults.__file__).resolve()}


def test_a_forged_graph_link_changes_only_the_graph_roots_after_its_node() -> None:
    liar = LyingRequestLevel(tiny_commitment(), tiny_image(), {ForgeGraphLink(2)})
    graph = liar.graph
    assert isinstance(graph, LyingGraphLevel) and type(graph.honest) is GraphLevel
    assert [graph.root_at(k) == graph.honest.root_at(k) for k in range(graph.length + 1)] == \
        [k <= 2 for k in range(graph.length + 1)]
    assert all(graph.tile_level(k) is graph.honest.tile_level(k) for k in range(graph.length))


def test_a_forged_tile_link_changes_only_the_tile_roots_after_its_tile() -> None:
    liar = LyingRequestLevel(tiny_commitment(), tiny_image(), {ForgeTileLink(1, 2)})
    tiles = liar.graph.tile_level(1)
    assert isinstance(tiles, LyingTileLevel) and type(tiles.honest) is TileLevel
    assert [tiles.root_at(t) == tiles.honest.root_at(t) for t in range(tiles.length + 1)] == \
        [t <= 2 for t in range(tiles.length + 1)]
    assert tiles.vm_level(2) is tiles.honest.vm_level(2)
    assert type(liar.graph.tile_level(0)) is TileLevel


def test_a_wrong_output_is_carried_in_the_values_and_laid_over_one_vm_run() -> None:
    c, node, element = tiny_commitment(), 6, 2
    liar = LyingRequestLevel(c, tiny_image(), {WrongOutput(node, element, vm_step=17)})
    assert all((liar.graph.values[s] == v).all()
               for s, v in believed_values(c.model, tiny_image(), [WrongOutput(node, element)]).items())
    tiles = liar.graph.tile_level(node)
    lie_tile = element // tiles.plan.tile_elems
    assert all(tiles.root_at(t) == tiles.honest.root_at(t) for t in range(tiles.length + 1))
    vm = tiles.vm_level(lie_tile)
    assert isinstance(vm, LyingVmLevel) and vm.honest is tiles.honest.vm_level(lie_tile) and vm.lie.at == 17
    assert all(tiles.vm_level(t) is tiles.honest.vm_level(t) for t in range(tiles.length) if t != lie_tile)


PROVIDERS = (RequestLevel, GraphLevel, TileLevel, VmLevel, VmRequestProvider, LyingRequestLevel, LyingGraphLevel,
             LyingTileLevel, LyingVmLevel, LyingVmRequestProvider, ToyTrace, LazyProvider, TimedProvider)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda cls: cls.__name__)
def test_every_level_provider_declares_the_protocol_and_types_its_methods(provider: type) -> None:
    assert TraceProvider in provider.__mro__
    for name in ("root_at", "open_next", "step_witness"):
        method = getattr(provider, name)
        hints = get_type_hints(method)
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert set(hints) == {*params, "return"} and Any not in hints.values(), f"{provider.__name__}.{name}: {hints}"
