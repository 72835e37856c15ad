"""The MIPS kernels: one freestanding C program per op, built reproducibly into `kernels/build/<name>.elf`, and a
kernel run's start and end from region roots (`vmstart`). Uses vm.

`kernel_path(name)` locates a committed ELF; `load_kernel(name, ...)` returns the VM's initial state for it with
params, inputs and output placed in their regions (`opml.vm.layout`); `code_root(name)` is the root of its code
region, the kernel's commitment. Building: `opml.kernels.build`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from opml.paths import REPO_ROOT
from opml.vm import layout

if TYPE_CHECKING:
    from opml.vm.state import VMState

KERNELS_DIR = REPO_ROOT / "kernels"
SOURCE_DIR = KERNELS_DIR / "src"
BUILD_DIR = KERNELS_DIR / "build"
MANIFEST_PATH = KERNELS_DIR / "manifest.json"


class KernelNotFoundError(LookupError):
    """No committed ELF for the requested kernel name."""


class RegionOverflowError(ValueError):
    """Data given for a region does not fit in it."""


def kernel_path(name: str) -> Path:
    """Path of the committed ELF `kernels/build/<name>.elf`; KernelNotFoundError if it does not exist."""
    path = BUILD_DIR / f"{name}.elf"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUILD_DIR.glob("*.elf"))) or "none"
        raise KernelNotFoundError(
            f"no kernel {name!r} in {BUILD_DIR} (built: {known}); run python -m opml.kernels.build")
    return path


def _place(state: "VMState", region: layout.Region, data: bytes) -> None:
    if len(data) > region.size:
        raise RegionOverflowError(f"{len(data)} bytes do not fit in region {region.name} ({region.size} bytes)")
    if data:
        state.memory.write_bytes(region.base, bytes(data))


def load_kernel(name: str, *, params: bytes = b"", inputs: Sequence[bytes] = (), output: bytes = b"") -> "VMState":
    """Initial VM state of kernel `name` with `params` in PARAMS, `inputs[i]` in INPUTS[i], `output` in OUTPUT.

    Everything else is as the ELF loader leaves it (docs/vm.md "Programs"). Pack params with
    `opml.kernels.params.pack_params`.
    """
    from opml.vm.elf import load_elf

    if len(inputs) > layout.INPUT_COUNT:
        raise RegionOverflowError(f"{len(inputs)} inputs given, the memory map has {layout.INPUT_COUNT} input regions")
    state = _loaded(kernel_path(name), load_elf).copy()
    _place(state, layout.PARAMS, params)
    for region, data in zip(layout.INPUTS, inputs):
        _place(state, region, data)
    _place(state, layout.OUTPUT, output)
    return state


_LOADED: dict[tuple[Path, int, int], "VMState"] = {}


def _loaded(path: Path, load_elf: Callable[[Path], "VMState"]) -> "VMState":
    """The ELF at `path` as loaded, parsed once per file version (path, mtime, size): a kernel is loaded for every
    tile a node checks or plays, and parsing the ELF cost more than running it. Callers copy the state (pages are
    shared copy-on-write), so the cached one is never written."""
    info = path.stat()
    key = (path, info.st_mtime_ns, info.st_size)
    state = _LOADED.get(key)
    if state is None:
        state = _LOADED[key] = load_elf(path)
    return state


def code_root(name: str) -> bytes:
    """Merkle root of the code region with kernel `name` loaded: what a model commits to for this kernel."""
    return load_kernel(name).memory.region_root(layout.CODE.base, layout.CODE.log2_size)
