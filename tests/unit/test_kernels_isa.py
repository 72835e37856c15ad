"""Every instruction word in every committed kernel's code is in the VM's instruction set (docs/vm.md).

A kernel that gcc compiled with an instruction outside the set (an r2 `seb`/`ext`, an FPU op, ...) would fault
INVALID_INSTRUCTION in the VM; this catches it at build time, naming the kernel, address and instruction.
"""

from __future__ import annotations

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from opml.kernels import kernel_path
from opml.kernels.build import kernel_names
from opml.vm import isa, layout


def _code_words(name: str) -> list[tuple[int, int]]:
    """(address, word) of every instruction word in the kernel's executable sections."""
    with kernel_path(name).open("rb") as f:
        elf = ELFFile(f)
        words = []
        for section in elf.iter_sections():
            if not section["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                continue
            data, base = section.data(), section["sh_addr"]
            assert len(data) % 4 == 0 and base % 4 == 0, f"{name}: {section.name} is not word aligned"
            words += [(base + i, int.from_bytes(data[i:i + 4], "little")) for i in range(0, len(data), 4)]
    return words


@pytest.mark.parametrize("name", kernel_names())
def test_kernel_code_decodes(name):
    words = _code_words(name)
    assert words, f"{name}: no executable section"
    invalid = [f"{addr:#010x}: {word:#010x}" for addr, word in words if isa.decode(word) is None]
    assert not invalid, f"{name}: instructions outside the VM set at " + ", ".join(invalid)


TRAPS = frozenset({"teq", "tne", "tge", "tgeu", "tlt", "tltu", "teqi", "tnei", "tgei", "tgeiu", "tlti", "tltiu",
                   "break"})


@pytest.mark.parametrize("name", kernel_names())
def test_kernel_code_has_no_traps(name):
    """gcc's divide-by-zero checks (`teq`) and `__builtin_trap` would end a kernel in a fault, not an exit code."""
    traps = [f"{addr:#010x}: {isa.disassemble(word)}" for addr, word in _code_words(name)
             if (insn := isa.decode(word)) is not None and insn.name in TRAPS]
    assert not traps, f"{name}: trap instructions at " + ", ".join(traps)


@pytest.mark.parametrize("name", kernel_names())
def test_kernel_code_lies_in_the_code_region(name):
    for addr, _ in _code_words(name):
        assert layout.CODE.contains(addr), f"{name}: code at {addr:#x} outside the code region"


def test_decoder_rejects_r2_and_fpu_words():
    """The check above can fail: the decoder rejects what gcc emits for mips32r2 or with hard float."""
    seb = 0x7C000420 | (5 << 16) | (4 << 11)  # seb $4, $5 (SPECIAL3)
    add_s = 0x46000000 | (2 << 16) | (1 << 11)  # add.s $f0, $f1, $f2 (COP1)
    assert isa.decode(seb) is None
    assert isa.decode(add_s) is None
    assert isa.decode(0x00A4_0034).name in TRAPS  # teq $5, $4: what gcc emits without -mno-check-zero-division
