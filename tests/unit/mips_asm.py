"""A tiny MIPS32 assembler for tests: one encoder per instruction of docs/vm.md, returning the 32-bit word.

Operand order follows assembler syntax: `addu(rd, rs, rt)`, `addiu(rt, rs, imm)`, `lw(rt, off, base)`,
`beq(rs, rt, off)`. Branch offsets are the raw 16-bit field (in instructions, relative to pc + 4); jump
targets are byte addresses (bits 27..2 are kept). Immediates may be negative; they are truncated to 16 bits.
Names that clash with Python keywords take a trailing underscore (`and_`, `or_`, `break_`).
It is written independently of `opml.vm.isa` (its own table, copied from the opcode map of docs/vm.md) so tests
do not check the decoder against itself.
"""

from __future__ import annotations

import inspect
import keyword
import struct
from typing import Callable

(ZERO, AT, V0, V1, A0, A1, A2, A3, T0, T1, T2, T3, T4, T5, T6, T7,
 S0, S1, S2, S3, S4, S5, S6, S7, T8, T9, K0, K1, GP, SP, FP, RA) = range(32)

SPECIAL, REGIMM, SPECIAL2 = 0x00, 0x01, 0x1C  # the opcodes whose instructions a second field selects


def _reg(r: int) -> int:
    if not 0 <= r < 32:
        raise ValueError(f"register {r} is not 0..31")
    return r


def _imm16(imm: int) -> int:
    if not -0x8000 <= imm <= 0xFFFF:
        raise ValueError(f"immediate {imm} does not fit 16 bits")
    return imm & 0xFFFF


def r_type(funct: int, rs: int = 0, rt: int = 0, rd: int = 0, sa: int = 0, op: int = SPECIAL) -> int:
    return (op << 26) | (_reg(rs) << 21) | (_reg(rt) << 16) | (_reg(rd) << 11) | ((sa & 31) << 6) | (funct & 63)


def i_type(op: int, rs: int, rt: int, imm: int) -> int:
    return (op << 26) | (_reg(rs) << 21) | (_reg(rt) << 16) | _imm16(imm)


def regimm(code: int, rs: int, imm: int) -> int:
    return i_type(REGIMM, rs, code, imm)


def special2(funct: int, rs: int = 0, rt: int = 0, rd: int = 0) -> int:
    return r_type(funct, rs, rt, rd, op=SPECIAL2)


# Where each operand of the table lands: operand -> (shift, value -> field). `code` is the 10-bit field of the
# traps (bits 15..6); `syscall` and `break` take the 20-bit one (bits 25..6, see _field).
_FIELDS: dict[str, tuple[int, Callable[[int], int]]] = {
    "rs": (21, _reg), "base": (21, _reg),
    "rt": (16, _reg), "hint": (16, _reg),
    "rd": (11, _reg),
    "sa": (6, lambda v: v & 31), "stype": (6, lambda v: v & 31),
    "code": (6, lambda v: v & 0x3FF),
    "imm": (0, _imm16), "off": (0, _imm16),
    "target": (0, lambda v: (v >> 2) & 0x3FF_FFFF),
}
_OPTIONAL = {"code", "stype"}  # operands that default to 0

# The instruction set: (mnemonic, op, funct for SPECIAL/SPECIAL2 or rt for REGIMM, operands in assembler order).
_TABLE: tuple[tuple[str, int, int | None, str], ...] = (
    ("sll", SPECIAL, 0x00, "rd, rt, sa"),
    ("srl", SPECIAL, 0x02, "rd, rt, sa"),
    ("sra", SPECIAL, 0x03, "rd, rt, sa"),
    ("sllv", SPECIAL, 0x04, "rd, rt, rs"),
    ("srlv", SPECIAL, 0x06, "rd, rt, rs"),
    ("srav", SPECIAL, 0x07, "rd, rt, rs"),
    ("jr", SPECIAL, 0x08, "rs"),
    ("jalr", SPECIAL, 0x09, "rd, rs"),
    ("movz", SPECIAL, 0x0A, "rd, rs, rt"),
    ("movn", SPECIAL, 0x0B, "rd, rs, rt"),
    ("syscall", SPECIAL, 0x0C, "code"),
    ("break", SPECIAL, 0x0D, "code"),
    ("sync", SPECIAL, 0x0F, "stype"),
    ("mfhi", SPECIAL, 0x10, "rd"),
    ("mthi", SPECIAL, 0x11, "rs"),
    ("mflo", SPECIAL, 0x12, "rd"),
    ("mtlo", SPECIAL, 0x13, "rs"),
    ("mult", SPECIAL, 0x18, "rs, rt"),
    ("multu", SPECIAL, 0x19, "rs, rt"),
    ("div", SPECIAL, 0x1A, "rs, rt"),
    ("divu", SPECIAL, 0x1B, "rs, rt"),
    ("add", SPECIAL, 0x20, "rd, rs, rt"),
    ("addu", SPECIAL, 0x21, "rd, rs, rt"),
    ("sub", SPECIAL, 0x22, "rd, rs, rt"),
    ("subu", SPECIAL, 0x23, "rd, rs, rt"),
    ("and", SPECIAL, 0x24, "rd, rs, rt"),
    ("or", SPECIAL, 0x25, "rd, rs, rt"),
    ("xor", SPECIAL, 0x26, "rd, rs, rt"),
    ("nor", SPECIAL, 0x27, "rd, rs, rt"),
    ("slt", SPECIAL, 0x2A, "rd, rs, rt"),
    ("sltu", SPECIAL, 0x2B, "rd, rs, rt"),
    ("tge", SPECIAL, 0x30, "rs, rt, code"),
    ("tgeu", SPECIAL, 0x31, "rs, rt, code"),
    ("tlt", SPECIAL, 0x32, "rs, rt, code"),
    ("tltu", SPECIAL, 0x33, "rs, rt, code"),
    ("teq", SPECIAL, 0x34, "rs, rt, code"),
    ("tne", SPECIAL, 0x36, "rs, rt, code"),
    ("bltz", REGIMM, 0x00, "rs, off"),
    ("bgez", REGIMM, 0x01, "rs, off"),
    ("bltzl", REGIMM, 0x02, "rs, off"),
    ("bgezl", REGIMM, 0x03, "rs, off"),
    ("tgei", REGIMM, 0x08, "rs, imm"),
    ("tgeiu", REGIMM, 0x09, "rs, imm"),
    ("tlti", REGIMM, 0x0A, "rs, imm"),
    ("tltiu", REGIMM, 0x0B, "rs, imm"),
    ("teqi", REGIMM, 0x0C, "rs, imm"),
    ("tnei", REGIMM, 0x0E, "rs, imm"),
    ("bltzal", REGIMM, 0x10, "rs, off"),
    ("bgezal", REGIMM, 0x11, "rs, off"),
    ("bltzall", REGIMM, 0x12, "rs, off"),
    ("bgezall", REGIMM, 0x13, "rs, off"),
    ("madd", SPECIAL2, 0x00, "rs, rt"),
    ("maddu", SPECIAL2, 0x01, "rs, rt"),
    ("mul", SPECIAL2, 0x02, "rd, rs, rt"),
    ("msub", SPECIAL2, 0x04, "rs, rt"),
    ("msubu", SPECIAL2, 0x05, "rs, rt"),
    ("clz", SPECIAL2, 0x20, "rd, rs"),  # the architecture wants rt == rd (_RT_IS_RD)
    ("clo", SPECIAL2, 0x21, "rd, rs"),
    ("j", 0x02, None, "target"),
    ("jal", 0x03, None, "target"),
    ("beq", 0x04, None, "rs, rt, off"),
    ("bne", 0x05, None, "rs, rt, off"),
    ("blez", 0x06, None, "rs, off"),
    ("bgtz", 0x07, None, "rs, off"),
    ("addi", 0x08, None, "rt, rs, imm"),
    ("addiu", 0x09, None, "rt, rs, imm"),
    ("slti", 0x0A, None, "rt, rs, imm"),
    ("sltiu", 0x0B, None, "rt, rs, imm"),
    ("andi", 0x0C, None, "rt, rs, imm"),
    ("ori", 0x0D, None, "rt, rs, imm"),
    ("xori", 0x0E, None, "rt, rs, imm"),
    ("lui", 0x0F, None, "rt, imm"),
    ("beql", 0x14, None, "rs, rt, off"),
    ("bnel", 0x15, None, "rs, rt, off"),
    ("blezl", 0x16, None, "rs, off"),
    ("bgtzl", 0x17, None, "rs, off"),
    ("lb", 0x20, None, "rt, off, base"),
    ("lh", 0x21, None, "rt, off, base"),
    ("lwl", 0x22, None, "rt, off, base"),
    ("lw", 0x23, None, "rt, off, base"),
    ("lbu", 0x24, None, "rt, off, base"),
    ("lhu", 0x25, None, "rt, off, base"),
    ("lwr", 0x26, None, "rt, off, base"),
    ("sb", 0x28, None, "rt, off, base"),
    ("sh", 0x29, None, "rt, off, base"),
    ("swl", 0x2A, None, "rt, off, base"),
    ("sw", 0x2B, None, "rt, off, base"),
    ("swr", 0x2E, None, "rt, off, base"),
    ("ll", 0x30, None, "rt, off, base"),
    ("pref", 0x33, None, "hint, off, base"),
    ("sc", 0x38, None, "rt, off, base"),
)
_RT_IS_RD = {"clz", "clo"}


def _fixed_bits(op: int, selector: int | None) -> int:
    """The bits an instruction sets whatever its operands: the opcode, and the funct or REGIMM's rt."""
    if op == REGIMM:
        return op << 26 | selector << 16
    return op << 26 | (selector or 0)


def _field(name: str, operands: list[str]) -> tuple[int, Callable[[int], int]]:
    if name == "code" and "rs" not in operands:  # syscall, break: no registers, the code fills bits 25..6
        return 6, lambda v: v & 0xF_FFFF
    return _FIELDS[name]


def _encoder(mnemonic: str, op: int, selector: int | None, operands: str) -> Callable[..., int]:
    """The encoder of one table row: a function of the row's operands (by name, in order) -> instruction word."""
    names = [name.strip() for name in operands.split(",") if name.strip()]
    fixed = _fixed_bits(op, selector)
    fields = {name: _field(name, names) for name in names}
    signature = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=0 if name in _OPTIONAL else inspect.Parameter.empty)
        for name in names
    ])

    def encode(*args: int, **kwargs: int) -> int:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        word = fixed
        for name, value in bound.arguments.items():
            shift, field = fields[name]
            word |= field(value) << shift
        if mnemonic in _RT_IS_RD:
            word |= bound.arguments["rd"] << 16
        return word

    encode.__name__ = encode.__qualname__ = mnemonic
    encode.__signature__ = signature
    encode.__doc__ = f"`{mnemonic} {operands}`".rstrip()
    return encode


# Every instruction of the set: (mnemonic, encoder), for tests that walk the whole table.
INSTRUCTIONS: dict[str, Callable[..., int]] = {row[0]: _encoder(*row) for row in _TABLE}
# ... and each as a module function (`asm.lw(T0, 4, SP)`), keywords with a trailing underscore.
globals().update({name + "_" * keyword.iskeyword(name): fn for name, fn in INSTRUCTIONS.items()})


def nop() -> int:
    return 0


def move(rd: int, rs: int) -> int:
    return INSTRUCTIONS["addu"](rd, rs, ZERO)


def li(rt: int, value: int) -> list[int]:
    """Load a 32-bit constant: `lui` + `ori` (always two words, so program layouts stay predictable)."""
    value &= 0xFFFF_FFFF
    return [INSTRUCTIONS["lui"](rt, value >> 16), INSTRUCTIONS["ori"](rt, rt, value & 0xFFFF)]


def exit_(code_reg: int = A0) -> list[int]:
    """`exit(code_reg)`: v0 <- 4001; a0 <- code_reg; syscall."""
    return [INSTRUCTIONS["addiu"](V0, ZERO, 4001), move(A0, code_reg), INSTRUCTIONS["syscall"]()]


def assemble(words: list[int]) -> bytes:
    """Little-endian bytes of a list of instruction words."""
    return struct.pack(f"<{len(words)}I", *words)
