"""A tiny MIPS32 assembler for tests: one function per instruction of docs/vm.md, returning the 32-bit word.

Operand order follows assembler syntax: `addu(rd, rs, rt)`, `addiu(rt, rs, imm)`, `lw(rt, offset, base)`,
`beq(rs, rt, offset)`. Branch offsets are the raw 16-bit field (in instructions, relative to pc + 4); jump
targets are byte addresses (bits 27..2 are kept). Immediates may be negative; they are truncated to 16 bits.
Names that clash with Python keywords take a trailing underscore (`and_`, `or_`, `break_`).
It is written independently of `opml.vm.isa` so tests do not check the decoder against itself.
"""

from __future__ import annotations

import struct

(ZERO, AT, V0, V1, A0, A1, A2, A3, T0, T1, T2, T3, T4, T5, T6, T7,
 S0, S1, S2, S3, S4, S5, S6, S7, T8, T9, K0, K1, GP, SP, FP, RA) = range(32)


def _reg(r: int) -> int:
    if not 0 <= r < 32:
        raise ValueError(f"register {r} is not 0..31")
    return r


def r_type(funct: int, rs: int = 0, rt: int = 0, rd: int = 0, sa: int = 0, op: int = 0) -> int:
    return (op << 26) | (_reg(rs) << 21) | (_reg(rt) << 16) | (_reg(rd) << 11) | ((sa & 31) << 6) | (funct & 63)


def i_type(op: int, rs: int, rt: int, imm: int) -> int:
    if not -0x8000 <= imm <= 0xFFFF:
        raise ValueError(f"immediate {imm} does not fit 16 bits")
    return (op << 26) | (_reg(rs) << 21) | (_reg(rt) << 16) | (imm & 0xFFFF)


def j_type(op: int, target: int) -> int:
    return (op << 26) | ((target >> 2) & 0x3FF_FFFF)


def regimm(code: int, rs: int, imm: int) -> int:
    return i_type(0x01, rs, code, imm)


def special2(funct: int, rs: int = 0, rt: int = 0, rd: int = 0) -> int:
    return r_type(funct, rs, rt, rd, op=0x1C)


# SPECIAL ------------------------------------------------------------------------------------------------------
def sll(rd, rt, sa): return r_type(0x00, 0, rt, rd, sa)
def srl(rd, rt, sa): return r_type(0x02, 0, rt, rd, sa)
def sra(rd, rt, sa): return r_type(0x03, 0, rt, rd, sa)
def sllv(rd, rt, rs): return r_type(0x04, rs, rt, rd)
def srlv(rd, rt, rs): return r_type(0x06, rs, rt, rd)
def srav(rd, rt, rs): return r_type(0x07, rs, rt, rd)
def jr(rs): return r_type(0x08, rs)
def jalr(rd, rs): return r_type(0x09, rs, 0, rd)
def movz(rd, rs, rt): return r_type(0x0A, rs, rt, rd)
def movn(rd, rs, rt): return r_type(0x0B, rs, rt, rd)
def syscall(code: int = 0): return (code & 0xFFFFF) << 6 | 0x0C
def break_(code: int = 0): return (code & 0xFFFFF) << 6 | 0x0D
def sync(stype: int = 0): return r_type(0x0F, sa=stype)
def mfhi(rd): return r_type(0x10, rd=rd)
def mthi(rs): return r_type(0x11, rs)
def mflo(rd): return r_type(0x12, rd=rd)
def mtlo(rs): return r_type(0x13, rs)
def mult(rs, rt): return r_type(0x18, rs, rt)
def multu(rs, rt): return r_type(0x19, rs, rt)
def div(rs, rt): return r_type(0x1A, rs, rt)
def divu(rs, rt): return r_type(0x1B, rs, rt)
def add(rd, rs, rt): return r_type(0x20, rs, rt, rd)
def addu(rd, rs, rt): return r_type(0x21, rs, rt, rd)
def sub(rd, rs, rt): return r_type(0x22, rs, rt, rd)
def subu(rd, rs, rt): return r_type(0x23, rs, rt, rd)
def and_(rd, rs, rt): return r_type(0x24, rs, rt, rd)
def or_(rd, rs, rt): return r_type(0x25, rs, rt, rd)
def xor(rd, rs, rt): return r_type(0x26, rs, rt, rd)
def nor(rd, rs, rt): return r_type(0x27, rs, rt, rd)
def slt(rd, rs, rt): return r_type(0x2A, rs, rt, rd)
def sltu(rd, rs, rt): return r_type(0x2B, rs, rt, rd)
def tge(rs, rt, code: int = 0): return r_type(0x30, rs, rt) | (code & 0x3FF) << 6
def tgeu(rs, rt, code: int = 0): return r_type(0x31, rs, rt) | (code & 0x3FF) << 6
def tlt(rs, rt, code: int = 0): return r_type(0x32, rs, rt) | (code & 0x3FF) << 6
def tltu(rs, rt, code: int = 0): return r_type(0x33, rs, rt) | (code & 0x3FF) << 6
def teq(rs, rt, code: int = 0): return r_type(0x34, rs, rt) | (code & 0x3FF) << 6
def tne(rs, rt, code: int = 0): return r_type(0x36, rs, rt) | (code & 0x3FF) << 6


def nop(): return 0


def move(rd, rs): return addu(rd, rs, ZERO)


# REGIMM -------------------------------------------------------------------------------------------------------
def bltz(rs, off): return regimm(0x00, rs, off)
def bgez(rs, off): return regimm(0x01, rs, off)
def bltzl(rs, off): return regimm(0x02, rs, off)
def bgezl(rs, off): return regimm(0x03, rs, off)
def tgei(rs, imm): return regimm(0x08, rs, imm)
def tgeiu(rs, imm): return regimm(0x09, rs, imm)
def tlti(rs, imm): return regimm(0x0A, rs, imm)
def tltiu(rs, imm): return regimm(0x0B, rs, imm)
def teqi(rs, imm): return regimm(0x0C, rs, imm)
def tnei(rs, imm): return regimm(0x0E, rs, imm)
def bltzal(rs, off): return regimm(0x10, rs, off)
def bgezal(rs, off): return regimm(0x11, rs, off)
def bltzall(rs, off): return regimm(0x12, rs, off)
def bgezall(rs, off): return regimm(0x13, rs, off)


# SPECIAL2 -----------------------------------------------------------------------------------------------------
def madd(rs, rt): return special2(0x00, rs, rt)
def maddu(rs, rt): return special2(0x01, rs, rt)
def mul(rd, rs, rt): return special2(0x02, rs, rt, rd)
def msub(rs, rt): return special2(0x04, rs, rt)
def msubu(rs, rt): return special2(0x05, rs, rt)
def clz(rd, rs): return special2(0x20, rs, rd, rd)  # the architecture wants rt == rd
def clo(rd, rs): return special2(0x21, rs, rd, rd)


# Jumps, branches, immediates ----------------------------------------------------------------------------------
def j(target): return j_type(0x02, target)
def jal(target): return j_type(0x03, target)
def beq(rs, rt, off): return i_type(0x04, rs, rt, off)
def bne(rs, rt, off): return i_type(0x05, rs, rt, off)
def blez(rs, off): return i_type(0x06, rs, 0, off)
def bgtz(rs, off): return i_type(0x07, rs, 0, off)
def addi(rt, rs, imm): return i_type(0x08, rs, rt, imm)
def addiu(rt, rs, imm): return i_type(0x09, rs, rt, imm)
def slti(rt, rs, imm): return i_type(0x0A, rs, rt, imm)
def sltiu(rt, rs, imm): return i_type(0x0B, rs, rt, imm)
def andi(rt, rs, imm): return i_type(0x0C, rs, rt, imm)
def ori(rt, rs, imm): return i_type(0x0D, rs, rt, imm)
def xori(rt, rs, imm): return i_type(0x0E, rs, rt, imm)
def lui(rt, imm): return i_type(0x0F, 0, rt, imm)
def beql(rs, rt, off): return i_type(0x14, rs, rt, off)
def bnel(rs, rt, off): return i_type(0x15, rs, rt, off)
def blezl(rs, off): return i_type(0x16, rs, 0, off)
def bgtzl(rs, off): return i_type(0x17, rs, 0, off)


# Loads and stores: (rt, offset, base) ------------------------------------------------------------------------
def lb(rt, off, base): return i_type(0x20, base, rt, off)
def lh(rt, off, base): return i_type(0x21, base, rt, off)
def lwl(rt, off, base): return i_type(0x22, base, rt, off)
def lw(rt, off, base): return i_type(0x23, base, rt, off)
def lbu(rt, off, base): return i_type(0x24, base, rt, off)
def lhu(rt, off, base): return i_type(0x25, base, rt, off)
def lwr(rt, off, base): return i_type(0x26, base, rt, off)
def sb(rt, off, base): return i_type(0x28, base, rt, off)
def sh(rt, off, base): return i_type(0x29, base, rt, off)
def swl(rt, off, base): return i_type(0x2A, base, rt, off)
def sw(rt, off, base): return i_type(0x2B, base, rt, off)
def swr(rt, off, base): return i_type(0x2E, base, rt, off)
def ll(rt, off, base): return i_type(0x30, base, rt, off)
def pref(hint, off, base): return i_type(0x33, base, hint, off)
def sc(rt, off, base): return i_type(0x38, base, rt, off)


def li(rt: int, value: int) -> list[int]:
    """Load a 32-bit constant: `lui` + `ori` (always two words, so program layouts stay predictable)."""
    value &= 0xFFFF_FFFF
    return [lui(rt, value >> 16), ori(rt, rt, value & 0xFFFF)]


def exit_(code_reg: int = A0) -> list[int]:
    """`exit(code_reg)`: v0 <- 4001; a0 <- code_reg; syscall."""
    return [addiu(V0, ZERO, 4001), move(A0, code_reg), syscall()]


def assemble(words: list[int]) -> bytes:
    """Little-endian bytes of a list of instruction words."""
    return struct.pack(f"<{len(words)}I", *words)


# Every instruction of the set: (mnemonic, encoder), for tests that walk the whole table.
INSTRUCTIONS = {
    name.rstrip("_"): fn for name, fn in dict(globals()).items()
    if callable(fn) and not name.startswith("_") and name not in {
        "r_type", "i_type", "j_type", "regimm", "special2", "nop", "move", "li", "exit_", "assemble",
    } and getattr(fn, "__module__", None) == __name__
}
