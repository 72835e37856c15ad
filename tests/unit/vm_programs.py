"""Builds the C test programs of tests/programs/ with the cross compiler (flags of docs/vm.md "Programs")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROGRAMS_DIR = Path(__file__).resolve().parents[1] / "programs"
COMPILER = "mipsel-linux-gnu-gcc"
CFLAGS = [
    "-march=mips32", "-mno-abicalls", "-fno-pic", "-ffreestanding", "-fno-builtin", "-nostdlib", "-msoft-float",
    "-mno-check-zero-division", "-O2",
    "-fno-tree-loop-distribute-patterns",  # keep crt0's memcpy/memset loops from becoming calls to themselves
]
LDFLAGS = ["-static", "-Wl,--build-id=none", "-T", str(PROGRAMS_DIR / "link.ld")]
PROGRAMS = ("divmod", "packed", "recurse", "loop")


def build_program(name: str, out_dir: Path) -> Path:
    """Compile tests/programs/<name>.c with crt0.c into out_dir/<name>.elf."""
    if shutil.which(COMPILER) is None:
        pytest.fail(f"{COMPILER} is not installed: run `make sysdeps` (installs Debian's gcc-mipsel-linux-gnu)")
    out = out_dir / f"{name}.elf"
    sources = [str(PROGRAMS_DIR / "crt0.c"), str(PROGRAMS_DIR / f"{name}.c")]
    result = subprocess.run([COMPILER, *CFLAGS, *LDFLAGS, "-o", str(out), *sources], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"building {name} failed:\n{result.stderr}")
    return out


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> dict[str, Path]:
    """name -> path of every test program, built once per session."""
    out_dir = tmp_path_factory.mktemp("vm_programs")
    return {name: build_program(name, out_dir) for name in PROGRAMS}
