"""The ELF loader: initial state of real compiled programs, and clear rejections of everything else."""

from __future__ import annotations

import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from opml.vm import layout
from opml.vm.elf import ElfError, load_elf
from opml.vm.memory import Memory
from opml.vm.state import Status
from vm_programs import CFLAGS, COMPILER, PROGRAMS_DIR, programs  # noqa: F401 - fixture

CODE = layout.CODE.base


def make_elf(segments, entry=CODE, *, ei_class=1, ei_data=1, e_type=2, e_machine=8) -> bytes:
    """A minimal ELF32 image: header, program headers, then each segment's file bytes.

    `segments`: list of (vaddr, file_bytes, memsz)."""
    endian = "<" if ei_data == 1 else ">"
    phoff = 52
    data_off = phoff + 32 * len(segments)
    header = b"\x7fELF" + bytes([ei_class, ei_data, 1]) + bytes(9)
    header += struct.pack(endian + "HHIIIIIHHHHHH", e_type, e_machine, 1, entry, phoff, 0, 0x1000, 52, 32,
                          len(segments), 40, 0, 0)
    phdrs, blobs, offset = b"", b"", data_off
    for vaddr, content, memsz in segments:
        phdrs += struct.pack(endian + "IIIIIIII", 1, offset, vaddr, vaddr, len(content), memsz, 7, 4)
        blobs += content
        offset += len(content)
    return header + phdrs + blobs


def test_hand_built_image_loads_with_bss_zeroed():
    text = bytes(range(1, 41))
    state = load_elf(make_elf([(CODE, text, 0x100), (CODE + 0x2000, b"\xAA\xBB", 0x2000)], entry=CODE + 8))
    assert (state.pc, state.next_pc, state.status, state.step) == (CODE + 8, CODE + 12, Status.RUNNING, 0)
    assert state.regs[29] == layout.STACK_TOP == 0xEFFF_FFF0
    assert state.regs[:29] == [0] * 29 and state.regs[30:] == [0, 0]
    assert (state.hi, state.lo, state.exit_code) == (0, 0, 0)
    expected = Memory()
    expected.write_bytes(CODE, text)
    expected.write_bytes(CODE + 0x2000, b"\xAA\xBB")
    assert state.memory.root() == expected.root()
    assert state.memory.read_bytes(CODE + 40, 0x100 - 40) == bytes(0x100 - 40)


def test_compiled_program_loads_its_segments(programs):
    path = programs["recurse"]
    state = load_elf(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        assert state.pc == elf.header["e_entry"] and state.next_pc == state.pc + 4
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                assert state.memory.read_bytes(seg["p_vaddr"], seg["p_filesz"]) == seg.data()
                assert layout.CODE.contains(seg["p_vaddr"])
    assert state.memory.page_indices()[0] == CODE >> 12
    assert load_elf(path.read_bytes()).hash() == state.hash()  # bytes and path load the same


@pytest.mark.parametrize("image, found", [
    (b"#!/bin/sh\necho hi\n" + bytes(60), "no ELF header"),
    (b"\x7fELF" + bytes(10), "truncated ELF header"),
    (make_elf([(CODE, b"x", 1)], ei_class=2), "ELF class 2 (64-bit)"),
    (make_elf([(CODE, b"x", 1)], ei_data=2), "big-endian"),
    (make_elf([(CODE, b"x", 1)], e_machine=62), "e_machine 62"),
    (make_elf([(CODE, b"x", 1)], e_type=1), "relocatable object"),
    (make_elf([(CODE, b"x", 1)], e_type=3), "shared object"),
], ids=["script", "truncated", "elf64", "big-endian", "x86-64", "relocatable", "shared"])
def test_rejects_what_is_not_a_mips32_le_executable(image, found):
    with pytest.raises(ElfError, match="not a MIPS32 little-endian executable") as info:
        load_elf(image)
    assert found in str(info.value).split("(found ", 1)[1]


@pytest.mark.parametrize("segments, entry, message", [
    ([(layout.PARAMS.base, b"x", 1)], CODE, "outside the code region"),
    ([(CODE - 4, b"abcdefgh", 8)], CODE, "outside the code region"),
    ([(layout.CODE.end - 4, b"abcd", 8)], CODE, "outside the code region"),  # .bss runs past the end
    ([(CODE, b"abcd", 4)], layout.CODE.end, "entry point"),
    ([(CODE, b"abcd", 4)], CODE + 2, "entry point"),
    ([(CODE, b"abcdefgh", 4)], CODE, "p_filesz 8 > p_memsz 4"),
    ([], CODE, "no PT_LOAD"),
])
def test_rejects_programs_that_do_not_fit_the_memory_map(segments, entry, message):
    with pytest.raises(ElfError, match=message):
        load_elf(make_elf(segments, entry=entry))


def test_rejects_truncated_segment():
    image = make_elf([(CODE, bytes(64), 64)])
    with pytest.raises(ElfError, match="truncated|malformed"):
        load_elf(image[:-10])


def test_rejects_a_real_object_file(tmp_path):
    obj = tmp_path / "loop.o"
    subprocess.run([COMPILER, *CFLAGS, "-c", "-o", str(obj), str(PROGRAMS_DIR / "loop.c")], check=True)
    with pytest.raises(ElfError, match=r"found a relocatable object"):
        load_elf(obj)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ElfError, match="cannot read"):
        load_elf(tmp_path / "absent.elf")
