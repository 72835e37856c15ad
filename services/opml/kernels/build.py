"""Reproducible build of the MIPS kernels: `python -m opml.kernels.build [--check]`.

Each `kernels/src/<name>.c` is compiled together with the runtime (`kernels/runtime/*.c`) into
`kernels/build/<name>.elf`, linked by `kernels/link.ld` at the code region. The same compiler version and flags
give byte-identical ELFs: the build runs in the kernels directory with relative paths, no debug info, no build
id. `kernels/manifest.json` records each ELF's sha256 with the compiler version and flags; `--check` rebuilds
into a temporary directory and exits non-zero naming every kernel that differs from the committed ELFs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

from opml.kernels import BUILD_DIR, KERNELS_DIR, MANIFEST_PATH, SOURCE_DIR

log = structlog.get_logger(__name__)

COMPILER = "mipsel-linux-gnu-gcc"

# docs/vm.md flags, then what keeps the output inside the VM's set and byte-identical:
# -G0: no $gp-relative small data ($gp is 0 at start); no loop-idiom calls to memset/memcpy;
# -g0/--build-id=none plus relative paths from a fixed directory: nothing machine or path dependent in the ELF.
FLAGS = (
    "-march=mips32", "-mno-abicalls", "-fno-pic", "-ffreestanding", "-fno-builtin", "-nostdlib",
    "-msoft-float", "-mno-check-zero-division", "-O2",
    "-G0", "-fno-tree-loop-distribute-patterns", "-ffunction-sections", "-fdata-sections",
    "-g0", "-static", "-no-pie", "-Wall", "-Wextra",
    "-Wl,--build-id=none", "-Wl,--gc-sections", "-Wl,-z,max-page-size=4096", "-Wl,--no-warn-rwx-segments",
)
INCLUDE_DIR = "include"
RUNTIME_SOURCES = ("runtime/start.c", "runtime/mem.c")
LINKER_SCRIPT = "link.ld"


class KernelBuildError(RuntimeError):
    """A kernel could not be built (compiler missing or compilation failed)."""


@dataclass(frozen=True)
class Manifest:
    """What a build produced: kernel name -> sha256 (hex) of its ELF, and how it was built."""

    compiler: str
    flags: tuple[str, ...]
    kernels: dict[str, str]

    def to_json(self) -> str:
        body = {"compiler": self.compiler, "flags": list(self.flags), "kernels": dict(sorted(self.kernels.items()))}
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        body = json.loads(text)
        return cls(body["compiler"], tuple(body["flags"]), dict(body["kernels"]))


def find_compiler() -> str:
    """Path of the MIPS cross compiler; KernelBuildError with the install hint if it is absent."""
    path = shutil.which(COMPILER)
    if path is None:
        raise KernelBuildError(
            f"{COMPILER} not found on PATH: install Debian's gcc-mipsel-linux-gnu (`make sysdeps` does it)"
        )
    return path


def compiler_version(compiler: str) -> str:
    """First line of `compiler --version`, e.g. 'mipsel-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0'."""
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def kernel_names() -> list[str]:
    """Names of all kernel sources, sorted."""
    return sorted(p.stem for p in SOURCE_DIR.glob("*.c"))


def build_kernel(compiler: str, name: str, out_dir: Path) -> Path:
    """Compiles kernels/src/<name>.c with the runtime into out_dir/<name>.elf."""
    out = out_dir / f"{name}.elf"
    cmd = [compiler, *FLAGS, f"-I{INCLUDE_DIR}", "-T", LINKER_SCRIPT, "-o", str(out.resolve()),
           f"src/{name}.c", *RUNTIME_SOURCES]
    proc = subprocess.run(cmd, cwd=KERNELS_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelBuildError(f"kernel {name} failed to build:\n{proc.stderr.strip()}")
    if proc.stderr.strip():
        log.warning("kernel_build_warnings", kernel=name, stderr=proc.stderr.strip())
    return out


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_all(out_dir: Path, names: list[str] | None = None) -> Manifest:
    """Builds every kernel (or `names`) into out_dir and returns the manifest of what was built."""
    compiler = find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in names if names is not None else kernel_names():
        hashes[name] = sha256_file(build_kernel(compiler, name, out_dir))
        log.info("kernel_built", kernel=name, sha256=hashes[name])
    return Manifest(compiler_version(compiler), FLAGS, hashes)


def differences(built: Manifest, built_dir: Path, committed_dir: Path = BUILD_DIR,
                manifest_path: Path = MANIFEST_PATH) -> list[str]:
    """One line per kernel whose fresh build differs from the committed ELF or manifest (empty: all equal).

    A different compiler version alone is no difference (the bytes decide); it is named when ELFs differ.
    """
    if not manifest_path.exists():
        return [f"{manifest_path} is missing"]
    committed = Manifest.from_json(manifest_path.read_text())
    problems = [] if committed.flags == built.flags else ["flags differ from the manifest's: rebuild the kernels"]
    for name, digest in sorted(built.kernels.items()):
        elf = committed_dir / f"{name}.elf"
        if not elf.exists():
            problems.append(f"{name}: {elf} is not committed")
        elif (built_dir / f"{name}.elf").read_bytes() != elf.read_bytes():
            problems.append(f"{name}: rebuilt ELF differs from {elf}")
        elif committed.kernels.get(name) != digest:
            problems.append(f"{name}: manifest sha256 differs from the ELF")
    for name in sorted(set(committed.kernels) - set(built.kernels)):
        problems.append(f"{name}: in the manifest but has no source")
    if problems and committed.compiler != built.compiler:
        problems.append(f"compiler differs: manifest has {committed.compiler!r}, this machine {built.compiler!r}")
    return problems


def check() -> list[str]:
    """Rebuilds all kernels into a temporary directory and compares them with the committed ones."""
    with tempfile.TemporaryDirectory(prefix="opml-kernels-") as tmp:
        built = build_all(Path(tmp))
        return differences(built, Path(tmp))


def build() -> Manifest:
    """Builds all kernels into kernels/build/ and writes kernels/manifest.json; removes stale ELFs."""
    manifest = build_all(BUILD_DIR)
    for stale in BUILD_DIR.glob("*.elf"):
        if stale.stem not in manifest.kernels:
            stale.unlink()
    MANIFEST_PATH.write_text(manifest.to_json())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opml.kernels.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare with kernels/build")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for line in problems:
                print(f"MISMATCH {line}", file=sys.stderr)
            if not problems:
                print(f"kernels reproducible: {', '.join(kernel_names())}")
            return 1 if problems else 0
        manifest = build()
    except KernelBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"built {len(manifest.kernels)} kernels into {BUILD_DIR}, manifest {MANIFEST_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
