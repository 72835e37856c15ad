"""ELF loader (docs/vm.md "Programs"): ELF32 little-endian MIPS executable -> initial VMState.

`PT_LOAD` segments are copied into memory (the rest of each segment, `.bss`, stays zero), pc = e_entry,
nextPC = pc + 4, $sp = layout.STACK_TOP; everything else is zero. Every segment and the entry point must lie
in the code region, so a program cannot preload the data regions whose roots are committed separately.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from opml.vm import layout
from opml.vm.state import VMState

SP = 29
_MAGIC = b"\x7fELF"
_ELFCLASS32, _ELFDATA2LSB, _ET_EXEC, _EM_MIPS = 1, 1, 2, 8


class ElfError(ValueError):
    """The file is not a loadable program for this VM."""


def load_elf(program: str | Path | bytes) -> VMState:
    """Initial state of `program` (a path or the ELF bytes); raises ElfError for anything else."""
    name, data = _read(program)
    entry, segments = _parse(name, data)
    state = VMState()
    for vaddr, content in segments:
        state.memory.write_bytes(vaddr, content)  # the rest up to memsz (.bss) is already zero
    state.pc, state.next_pc = entry, entry + 4
    state.regs[SP] = layout.STACK_TOP
    return state


@lru_cache(maxsize=64)
def _parse(name: str, data: bytes) -> tuple[int, tuple[tuple[int, bytes], ...]]:
    """(entry point, the PT_LOAD segments' (address, file bytes)), checked; parsed once per distinct program (a
    kernel is loaded once per tile run)."""
    _check_header(name, data)
    try:
        elf = ELFFile(io.BytesIO(data))
        entry = elf.header["e_entry"]
        segments = tuple(_segment(name, seg) for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
    except ELFError as exc:
        raise ElfError(f"{name}: malformed ELF ({exc})") from exc
    if not segments:
        raise ElfError(f"{name}: no PT_LOAD segment")
    if not layout.CODE.contains(entry) or entry & 3:
        raise ElfError(f"{name}: entry point {entry:#x} is not a word address in the code region "
                       f"[{layout.CODE.base:#x}, {layout.CODE.end:#x})")
    return entry, segments


def _read(program: str | Path | bytes) -> tuple[str, bytes]:
    if isinstance(program, (bytes, bytearray, memoryview)):
        return "<bytes>", bytes(program)
    path = Path(program)
    try:
        return str(path), path.read_bytes()
    except OSError as exc:
        raise ElfError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _check_header(name: str, data: bytes) -> None:
    """The identification checks, each with what was found instead."""
    def reject(found: str) -> ElfError:
        return ElfError(f"{name}: not a MIPS32 little-endian executable (found {found})")

    if len(data) < 52 or data[:4] != _MAGIC:
        raise reject("no ELF header" if data[:4] != _MAGIC else f"a truncated ELF header, {len(data)} bytes")
    if data[4] != _ELFCLASS32:
        raise reject(f"ELF class {data[4]}" + (" (64-bit)" if data[4] == 2 else ""))
    if data[5] != _ELFDATA2LSB:
        raise reject(f"data encoding {data[5]}" + (" (big-endian)" if data[5] == 2 else ""))
    e_type = int.from_bytes(data[16:18], "little")
    e_machine = int.from_bytes(data[18:20], "little")
    if e_machine != _EM_MIPS:
        raise reject(f"e_machine {e_machine}")
    if e_type != _ET_EXEC:
        kinds = {1: "a relocatable object", 3: "a shared object / PIE", 4: "a core file"}
        raise reject(kinds.get(e_type, f"e_type {e_type}"))


def _segment(name: str, seg) -> tuple[int, bytes]:
    vaddr, filesz, memsz = seg["p_vaddr"], seg["p_filesz"], seg["p_memsz"]
    if filesz > memsz:
        raise ElfError(f"{name}: segment at {vaddr:#x} has p_filesz {filesz} > p_memsz {memsz}")
    if memsz and not (layout.CODE.base <= vaddr and vaddr + memsz <= layout.CODE.end):
        raise ElfError(f"{name}: segment [{vaddr:#x}, {vaddr + memsz:#x}) lies outside the code region "
                       f"[{layout.CODE.base:#x}, {layout.CODE.end:#x})")
    content = seg.data()
    if len(content) != filesz:
        raise ElfError(f"{name}: segment at {vaddr:#x} is truncated ({len(content)} of {filesz} bytes)")
    return vaddr, content
