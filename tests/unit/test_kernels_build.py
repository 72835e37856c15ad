"""The committed kernel ELFs are exactly what the pinned toolchain builds from kernels/src (reproducibility)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opml.kernels import BUILD_DIR, MANIFEST_PATH, KernelNotFoundError, kernel_path
from opml.kernels.build import (
    COMPILER,
    KernelBuildError,
    Manifest,
    build_all,
    differences,
    find_compiler,
    kernel_names,
    sha256_file,
)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> tuple[Manifest, Path]:
    """A fresh build of every kernel. Without the cross compiler this fails (never skips): CI installs it."""
    out = tmp_path_factory.mktemp("kernels")
    try:
        return build_all(out), out
    except KernelBuildError as exc:
        pytest.fail(f"cannot rebuild the kernels: {exc}")


def test_every_source_has_a_committed_elf_in_the_manifest():
    manifest = Manifest.from_json(MANIFEST_PATH.read_text())
    assert sorted(manifest.kernels) == kernel_names()
    for name, digest in manifest.kernels.items():
        assert sha256_file(kernel_path(name)) == digest, f"{name}: committed ELF does not match the manifest"


def test_rebuild_is_byte_identical_to_the_committed_elfs(rebuilt):
    built, out = rebuilt
    assert differences(built, out) == []


def test_rebuild_is_deterministic(rebuilt, tmp_path):
    built, _ = rebuilt
    name = kernel_names()[0]
    again = build_all(tmp_path, [name])
    assert again.kernels[name] == built.kernels[name]


def test_a_changed_elf_is_reported_by_name(rebuilt, tmp_path):
    built, out = rebuilt
    committed = tmp_path / "committed"
    shutil.copytree(BUILD_DIR, committed)
    victim = kernel_names()[0]
    elf = bytearray((committed / f"{victim}.elf").read_bytes())
    elf[-1] ^= 1
    (committed / f"{victim}.elf").write_bytes(bytes(elf))
    problems = differences(built, out, committed_dir=committed)
    assert len(problems) == 1 and problems[0].startswith(f"{victim}:")


def test_a_different_compiler_is_named_only_when_elfs_differ(rebuilt, tmp_path):
    built, out = rebuilt
    manifest = Manifest.from_json(MANIFEST_PATH.read_text())
    (tmp_path / "manifest.json").write_text(Manifest("mipsel-linux-gnu-gcc 99.0", manifest.flags,
                                                     manifest.kernels).to_json())
    assert differences(built, out, manifest_path=tmp_path / "manifest.json") == []
    committed = tmp_path / "committed"
    shutil.copytree(BUILD_DIR, committed)
    (committed / f"{kernel_names()[0]}.elf").write_bytes(b"not the build")
    problems = differences(built, out, committed_dir=committed, manifest_path=tmp_path / "manifest.json")
    assert len(problems) == 2 and "compiler differs" in problems[1] and "99.0" in problems[1]


def test_stale_flags_and_missing_sources_are_reported(rebuilt, tmp_path):
    built, out = rebuilt
    manifest = Manifest.from_json(MANIFEST_PATH.read_text())
    stale = Manifest(manifest.compiler, manifest.flags[:-1], {**manifest.kernels, "gone": "00"})
    (tmp_path / "manifest.json").write_text(stale.to_json())
    problems = differences(built, out, manifest_path=tmp_path / "manifest.json")
    assert problems == ["flags differ from the manifest's: rebuild the kernels",
                        "gone: in the manifest but has no source"]


def test_missing_compiler_gives_an_install_hint(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KernelBuildError, match=f"{COMPILER} not found.*gcc-mipsel-linux-gnu"):
        find_compiler()


def test_unknown_kernel_is_a_clear_error():
    with pytest.raises(KernelNotFoundError, match="no kernel 'no_such_op'"):
        kernel_path("no_such_op")
