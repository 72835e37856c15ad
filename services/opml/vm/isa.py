"""The instruction set of docs/vm.md as tables: instruction word -> `Insn(name, operand format, make)`.

`make(m, f)` builds the executor of one decoded instruction at one pc: a closure `run(npc) -> next npc` over
the machine context `m` (registers, hi/lo, memory views) and the instruction's fields `f`. The closure
mutates registers and memory and returns the nextPC of the normal advance or of the branch; the interpreter
then sets `pc <- npc`. Exceptional outcomes are raised, each before anything is mutated:
`Halt(Fault.X)` (fault), `Exit(code)` (syscall exit, normal advance) and `Nullify` (branch-likely not taken:
the delay slot is skipped).

Register writes go to `dst(rd)`: slot 32 of the 33-slot register list stands in for `$0`, so writes to
register 0 are discarded without a test, and reading `r[0]` always gives 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from opml.vm.state import Fault

M = 0xFFFF_FFFF
SIGN = 0x8000_0000
SINK = 32  # register slot that receives writes to $0
PAGE_MASK = 0xFFF

Handler = Callable[[int], int]


class Halt(Exception):
    """The instruction faults with `code`; nothing but the step counter changes."""

    def __init__(self, code: Fault) -> None:
        super().__init__(code)
        self.code = code


class Exit(Exception):
    """`syscall` exit: status EXITED with `code`, then the normal advance."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Nullify(Exception):
    """A branch-likely was not taken: pc <- nextPC + 4, nextPC <- nextPC + 8."""


_NULLIFY = Nullify()


class Fields:
    """The fields of an instruction word at `pc` (docs/vm.md "Fields")."""

    __slots__ = ("word", "pc", "op", "rs", "rt", "rd", "sa", "funct", "imm", "simm", "target")

    def __init__(self, word: int, pc: int = 0) -> None:
        self.word = word
        self.pc = pc
        self.op = word >> 26
        self.rs = (word >> 21) & 31
        self.rt = (word >> 16) & 31
        self.rd = (word >> 11) & 31
        self.sa = (word >> 6) & 31
        self.funct = word & 63
        self.imm = word & 0xFFFF
        self.simm = self.imm - ((self.imm & 0x8000) << 1)
        self.target = word & 0x3FF_FFFF


@dataclass(frozen=True)
class Insn:
    name: str
    fmt: str  # operand format for the disassembler
    make: Callable[[object, Fields], Handler]


SPECIAL: dict[int, Insn] = {}  # op 0, by funct
REGIMM: dict[int, Insn] = {}  # op 1, by rt
SPECIAL2: dict[int, Insn] = {}  # op 0x1C, by funct
OPCODES: dict[int, Insn] = {}  # every other op


def _insn(table: dict[int, Insn], key: int, name: str, fmt: str):
    def register(make):
        table[key] = Insn(name, fmt, make)
        return make
    return register


def decode(word: int) -> Insn | None:
    """The instruction a word encodes, or None if it is outside the set (fault INVALID_INSTRUCTION)."""
    op = word >> 26
    if op == 0:
        return SPECIAL.get(word & 63)
    if op == 1:
        return REGIMM.get((word >> 16) & 31)
    if op == 0x1C:
        return SPECIAL2.get(word & 63)
    return OPCODES.get(op)


def dst(reg: int) -> int:
    return reg or SINK


def s32(x: int) -> int:
    """u32 -> signed int."""
    return (x ^ SIGN) - SIGN


# ---------------------------------------------------------------------------------------------------------------
# SPECIAL: shifts


@_insn(SPECIAL, 0x00, "sll", "rd, rt, sa")
def _sll(m, f):
    r, d, t, sa = m.r, dst(f.rd), f.rt, f.sa

    def run(npc):
        r[d] = (r[t] << sa) & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x02, "srl", "rd, rt, sa")
def _srl(m, f):
    r, d, t, sa = m.r, dst(f.rd), f.rt, f.sa

    def run(npc):
        r[d] = r[t] >> sa
        return npc + 4
    return run


@_insn(SPECIAL, 0x03, "sra", "rd, rt, sa")
def _sra(m, f):
    r, d, t, sa = m.r, dst(f.rd), f.rt, f.sa

    def run(npc):
        r[d] = (s32(r[t]) >> sa) & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x04, "sllv", "rd, rt, rs")
def _sllv(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (r[t] << (r[s] & 31)) & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x06, "srlv", "rd, rt, rs")
def _srlv(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = r[t] >> (r[s] & 31)
        return npc + 4
    return run


@_insn(SPECIAL, 0x07, "srav", "rd, rt, rs")
def _srav(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (s32(r[t]) >> (r[s] & 31)) & M
        return npc + 4
    return run


# ---------------------------------------------------------------------------------------------------------------
# Branches and jumps. Each first faults when it sits in a delay slot (nextPC != pc + 4); `npc & M` because a
# sequential nextPC is only reduced mod 2^32 when it becomes pc.


def _branch_fields(f: Fields) -> tuple[int, int, int]:
    """(pc + 4, conditional target, link value), all mod 2^32."""
    return (f.pc + 4) & M, (f.pc + 4 + (f.simm << 2)) & M, (f.pc + 8) & M


def _conditional(taken: Callable[[int, int], bool], likely: bool = False, link: bool = False):
    """make() of a conditional branch: `taken(rs value, rt value)` (REGIMM and blez/bgtz ignore the second)."""
    def make(m, f):
        r, s, t = m.r, f.rs, f.rt
        pc4, target, ret = _branch_fields(f)

        def run(npc):
            if npc & M != pc4:
                raise Halt(Fault.BRANCH_IN_DELAY_SLOT)
            cond = taken(r[s], r[t])
            if link:
                r[31] = ret
            if cond:
                return target
            if likely:
                raise _NULLIFY
            return npc + 4
        return run
    return make


def _eq(a, b): return a == b
def _ne(a, b): return a != b
def _lez(a, _): return a == 0 or a & SIGN != 0
def _gtz(a, _): return a != 0 and a & SIGN == 0
def _ltz(a, _): return a & SIGN != 0
def _gez(a, _): return a & SIGN == 0


for _op, _name, _cond, _fmt in (
    (0x04, "beq", _eq, "rs, rt, off"), (0x05, "bne", _ne, "rs, rt, off"),
    (0x06, "blez", _lez, "rs, off"), (0x07, "bgtz", _gtz, "rs, off"),
):
    _insn(OPCODES, _op, _name, _fmt)(_conditional(_cond))
    _insn(OPCODES, _op | 0x10, _name + "l", _fmt)(_conditional(_cond, likely=True))

for _rt, _name, _cond in ((0x00, "bltz", _ltz), (0x01, "bgez", _gez)):
    _insn(REGIMM, _rt, _name, "rs, off")(_conditional(_cond))
    _insn(REGIMM, _rt | 0x02, _name + "l", "rs, off")(_conditional(_cond, likely=True))
    _insn(REGIMM, _rt | 0x10, _name + "al", "rs, off")(_conditional(_cond, link=True))
    _insn(REGIMM, _rt | 0x12, _name + "all", "rs, off")(_conditional(_cond, likely=True, link=True))


def _jump(link: bool):
    def make(m, f):
        r = m.r
        pc4, _, ret = _branch_fields(f)
        target = (pc4 & 0xF000_0000) | (f.target << 2)

        def run(npc):
            if npc & M != pc4:
                raise Halt(Fault.BRANCH_IN_DELAY_SLOT)
            if link:
                r[31] = ret
            return target
        return run
    return make


_insn(OPCODES, 0x02, "j", "target")(_jump(link=False))
_insn(OPCODES, 0x03, "jal", "target")(_jump(link=True))


@_insn(SPECIAL, 0x08, "jr", "rs")
def _jr(m, f):
    r, s = m.r, f.rs
    pc4 = (f.pc + 4) & M

    def run(npc):
        if npc & M != pc4:
            raise Halt(Fault.BRANCH_IN_DELAY_SLOT)
        return r[s]
    return run


@_insn(SPECIAL, 0x09, "jalr", "rd, rs")
def _jalr(m, f):
    r, s, d = m.r, f.rs, dst(f.rd)
    pc4, _, ret = _branch_fields(f)

    def run(npc):
        if npc & M != pc4:
            raise Halt(Fault.BRANCH_IN_DELAY_SLOT)
        target = r[s]
        r[d] = ret
        return target
    return run


# ---------------------------------------------------------------------------------------------------------------
# SPECIAL: moves, system, hi/lo


@_insn(SPECIAL, 0x0A, "movz", "rd, rs, rt")
def _movz(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        if r[t] == 0:
            r[d] = r[s]
        return npc + 4
    return run


@_insn(SPECIAL, 0x0B, "movn", "rd, rs, rt")
def _movn(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        if r[t] != 0:
            r[d] = r[s]
        return npc + 4
    return run


EXIT_SYSCALLS = (4001, 4246)  # exit, exit_group (o32 Linux numbers)


@_insn(SPECIAL, 0x0C, "syscall", "")
def _syscall(m, f):
    r = m.r

    def run(npc):
        if r[2] in EXIT_SYSCALLS:
            raise Exit(r[4] & 0xFF)
        raise Halt(Fault.BAD_SYSCALL)
    return run


def _fault(code: Fault):
    def make(m, f):
        def run(npc):
            raise Halt(code)
        return run
    return make


def _nop(m, f):
    def run(npc):
        return npc + 4
    return run


_insn(SPECIAL, 0x0D, "break", "")(_fault(Fault.TRAP))
_insn(SPECIAL, 0x0F, "sync", "")(_nop)


@_insn(SPECIAL, 0x10, "mfhi", "rd")
def _mfhi(m, f):
    r, hl, d = m.r, m.hl, dst(f.rd)

    def run(npc):
        r[d] = hl[0]
        return npc + 4
    return run


@_insn(SPECIAL, 0x11, "mthi", "rs")
def _mthi(m, f):
    r, hl, s = m.r, m.hl, f.rs

    def run(npc):
        hl[0] = r[s]
        return npc + 4
    return run


@_insn(SPECIAL, 0x12, "mflo", "rd")
def _mflo(m, f):
    r, hl, d = m.r, m.hl, dst(f.rd)

    def run(npc):
        r[d] = hl[1]
        return npc + 4
    return run


@_insn(SPECIAL, 0x13, "mtlo", "rs")
def _mtlo(m, f):
    r, hl, s = m.r, m.hl, f.rs

    def run(npc):
        hl[1] = r[s]
        return npc + 4
    return run


# ---------------------------------------------------------------------------------------------------------------
# Multiply and divide: hl = [hi, lo]


def _hilo(product: Callable[[int, int], int], accumulate: int = 0):
    """make() of hi:lo <- product(rs, rt) (accumulate 0), hi:lo + product (1) or hi:lo - product (-1)."""
    def make(m, f):
        r, hl, s, t = m.r, m.hl, f.rs, f.rt

        def run(npc):
            p = product(r[s], r[t])
            if accumulate:
                p = (hl[0] << 32 | hl[1]) + accumulate * p
            hl[0] = (p >> 32) & M
            hl[1] = p & M
            return npc + 4
        return run
    return make


def _signed_product(a, b): return s32(a) * s32(b)
def _unsigned_product(a, b): return a * b


_insn(SPECIAL, 0x18, "mult", "rs, rt")(_hilo(_signed_product))
_insn(SPECIAL, 0x19, "multu", "rs, rt")(_hilo(_unsigned_product))
_insn(SPECIAL2, 0x00, "madd", "rs, rt")(_hilo(_signed_product, 1))
_insn(SPECIAL2, 0x01, "maddu", "rs, rt")(_hilo(_unsigned_product, 1))
_insn(SPECIAL2, 0x04, "msub", "rs, rt")(_hilo(_signed_product, -1))
_insn(SPECIAL2, 0x05, "msubu", "rs, rt")(_hilo(_unsigned_product, -1))


def divide_signed(a: int, b: int) -> tuple[int, int]:
    """(quotient, remainder) of u32 a / u32 b as signed, truncating toward zero, as u32; b != 0."""
    x, y = s32(a), s32(b)
    q = abs(x) // abs(y)
    if (x < 0) != (y < 0):
        q = -q
    return q & M, (x - q * y) & M


@_insn(SPECIAL, 0x1A, "div", "rs, rt")
def _div(m, f):
    r, hl, s, t = m.r, m.hl, f.rs, f.rt

    def run(npc):
        if r[t] == 0:
            raise Halt(Fault.DIVISION_BY_ZERO)
        hl[1], hl[0] = divide_signed(r[s], r[t])
        return npc + 4
    return run


@_insn(SPECIAL, 0x1B, "divu", "rs, rt")
def _divu(m, f):
    r, hl, s, t = m.r, m.hl, f.rs, f.rt

    def run(npc):
        b = r[t]
        if b == 0:
            raise Halt(Fault.DIVISION_BY_ZERO)
        hl[1], hl[0] = divmod(r[s], b)
        return npc + 4
    return run


@_insn(SPECIAL2, 0x02, "mul", "rd, rs, rt")
def _mul(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (r[s] * r[t]) & M
        return npc + 4
    return run


@_insn(SPECIAL2, 0x20, "clz", "rd, rs")
def _clz(m, f):
    r, d, s = m.r, dst(f.rd), f.rs

    def run(npc):
        r[d] = 32 - r[s].bit_length()
        return npc + 4
    return run


@_insn(SPECIAL2, 0x21, "clo", "rd, rs")
def _clo(m, f):
    r, d, s = m.r, dst(f.rd), f.rs

    def run(npc):
        r[d] = 32 - (r[s] ^ M).bit_length()
        return npc + 4
    return run


# ---------------------------------------------------------------------------------------------------------------
# SPECIAL: three-register ALU


@_insn(SPECIAL, 0x20, "add", "rd, rs, rt")
def _add(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        v = s32(r[s]) + s32(r[t])
        if not -SIGN <= v < SIGN:
            raise Halt(Fault.OVERFLOW)
        r[d] = v & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x21, "addu", "rd, rs, rt")
def _addu(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (r[s] + r[t]) & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x22, "sub", "rd, rs, rt")
def _sub(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        v = s32(r[s]) - s32(r[t])
        if not -SIGN <= v < SIGN:
            raise Halt(Fault.OVERFLOW)
        r[d] = v & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x23, "subu", "rd, rs, rt")
def _subu(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (r[s] - r[t]) & M
        return npc + 4
    return run


@_insn(SPECIAL, 0x24, "and", "rd, rs, rt")
def _and(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = r[s] & r[t]
        return npc + 4
    return run


@_insn(SPECIAL, 0x25, "or", "rd, rs, rt")
def _or(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = r[s] | r[t]
        return npc + 4
    return run


@_insn(SPECIAL, 0x26, "xor", "rd, rs, rt")
def _xor(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = r[s] ^ r[t]
        return npc + 4
    return run


@_insn(SPECIAL, 0x27, "nor", "rd, rs, rt")
def _nor(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = (r[s] | r[t]) ^ M
        return npc + 4
    return run


@_insn(SPECIAL, 0x2A, "slt", "rd, rs, rt")
def _slt(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = int((r[s] ^ SIGN) < (r[t] ^ SIGN))
        return npc + 4
    return run


@_insn(SPECIAL, 0x2B, "sltu", "rd, rs, rt")
def _sltu(m, f):
    r, d, s, t = m.r, dst(f.rd), f.rs, f.rt

    def run(npc):
        r[d] = int(r[s] < r[t])
        return npc + 4
    return run


# ---------------------------------------------------------------------------------------------------------------
# Conditional traps: rs against rt (SPECIAL) or against the sign-extended immediate (REGIMM)


def _ge(a, b): return (a ^ SIGN) >= (b ^ SIGN)
def _geu(a, b): return a >= b
def _lt(a, b): return (a ^ SIGN) < (b ^ SIGN)
def _ltu(a, b): return a < b


def _trap_reg(cond):
    def make(m, f):
        r, s, t = m.r, f.rs, f.rt

        def run(npc):
            if cond(r[s], r[t]):
                raise Halt(Fault.TRAP)
            return npc + 4
        return run
    return make


def _trap_imm(cond):
    def make(m, f):
        r, s, imm = m.r, f.rs, f.simm & M

        def run(npc):
            if cond(r[s], imm):
                raise Halt(Fault.TRAP)
            return npc + 4
        return run
    return make


for _funct, _rt, _name, _iname, _cond in (
    (0x30, 0x08, "tge", "tgei", _ge), (0x31, 0x09, "tgeu", "tgeiu", _geu), (0x32, 0x0A, "tlt", "tlti", _lt),
    (0x33, 0x0B, "tltu", "tltiu", _ltu), (0x34, 0x0C, "teq", "teqi", _eq), (0x36, 0x0E, "tne", "tnei", _ne),
):
    _insn(SPECIAL, _funct, _name, "rs, rt")(_trap_reg(_cond))
    _insn(REGIMM, _rt, _iname, "rs, simm")(_trap_imm(_cond))


# ---------------------------------------------------------------------------------------------------------------
# Immediate ALU


@_insn(OPCODES, 0x08, "addi", "rt, rs, simm")
def _addi(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.simm

    def run(npc):
        v = s32(r[s]) + imm
        if not -SIGN <= v < SIGN:
            raise Halt(Fault.OVERFLOW)
        r[d] = v & M
        return npc + 4
    return run


@_insn(OPCODES, 0x09, "addiu", "rt, rs, simm")
def _addiu(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.simm & M

    def run(npc):
        r[d] = (r[s] + imm) & M
        return npc + 4
    return run


@_insn(OPCODES, 0x0A, "slti", "rt, rs, simm")
def _slti(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.simm

    def run(npc):
        r[d] = int(s32(r[s]) < imm)
        return npc + 4
    return run


@_insn(OPCODES, 0x0B, "sltiu", "rt, rs, simm")
def _sltiu(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.simm & M

    def run(npc):
        r[d] = int(r[s] < imm)
        return npc + 4
    return run


@_insn(OPCODES, 0x0C, "andi", "rt, rs, imm")
def _andi(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.imm

    def run(npc):
        r[d] = r[s] & imm
        return npc + 4
    return run


@_insn(OPCODES, 0x0D, "ori", "rt, rs, imm")
def _ori(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.imm

    def run(npc):
        r[d] = r[s] | imm
        return npc + 4
    return run


@_insn(OPCODES, 0x0E, "xori", "rt, rs, imm")
def _xori(m, f):
    r, d, s, imm = m.r, dst(f.rt), f.rs, f.imm

    def run(npc):
        r[d] = r[s] ^ imm
        return npc + 4
    return run


@_insn(OPCODES, 0x0F, "lui", "rt, imm")
def _lui(m, f):
    r, d, v = m.r, dst(f.rt), f.imm << 16

    def run(npc):
        r[d] = v
        return npc + 4
    return run


# ---------------------------------------------------------------------------------------------------------------
# Loads and stores: a = rs + simm. Reads go through the memory's page dicts (`m.words`: u32 views, `m.pages`:
# bytearrays; a missing page reads as zero); writes through `m.hot` (pages owned and already marked dirty) or
# `m.writable(idx)`. A store drops the decoded instruction at its word from `m.code`.

ACCESS_ALIGN = {  # op -> alignment mask of the effective address, for every load and store
    0x20: 0, 0x21: 1, 0x22: 0, 0x23: 3, 0x24: 0, 0x25: 1, 0x26: 0, 0x30: 3,
    0x28: 0, 0x29: 1, 0x2A: 0, 0x2B: 3, 0x2E: 0, 0x38: 3,
}


def data_address(word: int, regs) -> int | None:
    """Effective address of a load/store that reaches memory (no alignment fault); None for anything else."""
    align = ACCESS_ALIGN.get(word >> 26)
    if align is None:
        return None
    f = Fields(word)
    a = (regs[f.rs] + f.simm) & M
    return None if a & align else a


def _load_word(words, a: int) -> int:
    view = words.get(a >> 12)
    return view[(a & PAGE_MASK) >> 2] if view is not None else 0


def _load_byte(pages, a: int) -> int:
    page = pages.get(a >> 12)
    return page[a & PAGE_MASK] if page is not None else 0


def _store_view(m, a: int) -> memoryview:
    view = m.hot.get(a >> 12)
    return view if view is not None else m.writable(a >> 12)


@_insn(OPCODES, 0x20, "lb", "rt, off(rs)")
def _lb(m, f):
    r, pages, d, s, off = m.r, m.pages, dst(f.rt), f.rs, f.simm

    def run(npc):
        v = _load_byte(pages, (r[s] + off) & M)
        r[d] = ((v ^ 0x80) - 0x80) & M
        return npc + 4
    return run


@_insn(OPCODES, 0x24, "lbu", "rt, off(rs)")
def _lbu(m, f):
    r, pages, d, s, off = m.r, m.pages, dst(f.rt), f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        page = pages.get(a >> 12)
        r[d] = page[a & PAGE_MASK] if page is not None else 0
        return npc + 4
    return run


def _load_half(pages, a: int) -> int:
    page = pages.get(a >> 12)
    if page is None:
        return 0
    o = a & PAGE_MASK
    return page[o] | page[o + 1] << 8


@_insn(OPCODES, 0x21, "lh", "rt, off(rs)")
def _lh(m, f):
    r, pages, d, s, off = m.r, m.pages, dst(f.rt), f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        if a & 1:
            raise Halt(Fault.UNALIGNED_ACCESS)
        r[d] = ((_load_half(pages, a) ^ 0x8000) - 0x8000) & M
        return npc + 4
    return run


@_insn(OPCODES, 0x25, "lhu", "rt, off(rs)")
def _lhu(m, f):
    r, pages, d, s, off = m.r, m.pages, dst(f.rt), f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        if a & 1:
            raise Halt(Fault.UNALIGNED_ACCESS)
        r[d] = _load_half(pages, a)
        return npc + 4
    return run


def _lw(m, f):
    r, words, d, s, off = m.r, m.words, dst(f.rt), f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        if a & 3:
            raise Halt(Fault.UNALIGNED_ACCESS)
        view = words.get(a >> 12)
        r[d] = view[(a & PAGE_MASK) >> 2] if view is not None else 0
        return npc + 4
    return run


_insn(OPCODES, 0x23, "lw", "rt, off(rs)")(_lw)
_insn(OPCODES, 0x30, "ll", "rt, off(rs)")(_lw)


@_insn(OPCODES, 0x22, "lwl", "rt, off(rs)")
def _lwl(m, f):
    r, words, d, t, s, off = m.r, m.words, dst(f.rt), f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        w = _load_word(words, a & ~3)
        shift = 8 * (3 - (a & 3))
        r[d] = ((w << shift) & M) | (r[t] & ((1 << shift) - 1))
        return npc + 4
    return run


@_insn(OPCODES, 0x26, "lwr", "rt, off(rs)")
def _lwr(m, f):
    r, words, d, t, s, off = m.r, m.words, dst(f.rt), f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        w = _load_word(words, a & ~3)
        shift = 8 * (a & 3)
        r[d] = (w >> shift) | (r[t] & ~(M >> shift) & M)
        return npc + 4
    return run


@_insn(OPCODES, 0x28, "sb", "rt, off(rs)")
def _sb(m, f):
    r, code, t, s, off = m.r, m.code, f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        _store_view(m, a).obj[a & PAGE_MASK] = r[t] & 0xFF
        code.pop(a & ~3, None)
        return npc + 4
    return run


@_insn(OPCODES, 0x29, "sh", "rt, off(rs)")
def _sh(m, f):
    r, code, t, s, off = m.r, m.code, f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        if a & 1:
            raise Halt(Fault.UNALIGNED_ACCESS)
        page, o, v = _store_view(m, a).obj, a & PAGE_MASK, r[t]
        page[o] = v & 0xFF
        page[o + 1] = (v >> 8) & 0xFF
        code.pop(a & ~3, None)
        return npc + 4
    return run


def _sw(m, f, link_sc: bool = False):
    r, hot, code, t, s, off = m.r, m.hot, m.code, f.rt, f.rs, f.simm
    d = dst(f.rt)

    def run(npc):
        a = (r[s] + off) & M
        if a & 3:
            raise Halt(Fault.UNALIGNED_ACCESS)
        view = hot.get(a >> 12)
        if view is None:
            view = m.writable(a >> 12)
        view[(a & PAGE_MASK) >> 2] = r[t]
        code.pop(a, None)
        if link_sc:
            r[d] = 1
        return npc + 4
    return run


_insn(OPCODES, 0x2B, "sw", "rt, off(rs)")(_sw)
_insn(OPCODES, 0x38, "sc", "rt, off(rs)")(lambda m, f: _sw(m, f, link_sc=True))


@_insn(OPCODES, 0x2A, "swl", "rt, off(rs)")
def _swl(m, f):
    r, code, t, s, off = m.r, m.code, f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        view, i = _store_view(m, a), (a & PAGE_MASK) >> 2
        shift = 8 * (3 - (a & 3))
        view[i] = (view[i] & ~(M >> shift) & M) | (r[t] >> shift)
        code.pop(a & ~3, None)
        return npc + 4
    return run


@_insn(OPCODES, 0x2E, "swr", "rt, off(rs)")
def _swr(m, f):
    r, code, t, s, off = m.r, m.code, f.rt, f.rs, f.simm

    def run(npc):
        a = (r[s] + off) & M
        view, i = _store_view(m, a), (a & PAGE_MASK) >> 2
        shift = 8 * (a & 3)
        view[i] = (view[i] & ((1 << shift) - 1)) | ((r[t] << shift) & M)
        code.pop(a & ~3, None)
        return npc + 4
    return run


_insn(OPCODES, 0x33, "pref", "hint, off(rs)")(_nop)


# ---------------------------------------------------------------------------------------------------------------
# Disassembler

REG_NAMES = (
    "zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
    "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8", "t9", "k0", "k1", "gp", "sp", "fp", "ra",
)


def _operand(token: str, f: Fields) -> str:
    regs = {"rs": f.rs, "rt": f.rt, "rd": f.rd}
    if token in regs:
        return "$" + REG_NAMES[regs[token]]
    if token == "sa":
        return str(f.sa)
    if token == "imm":
        return hex(f.imm)
    if token == "simm":
        return str(f.simm)
    if token == "hint":
        return str(f.rt)
    if token == "off":
        return f"{f.simm << 2:+d}"
    if token == "target":
        return hex(f.target << 2)
    if token == "off(rs)":
        return f"{f.simm}(${REG_NAMES[f.rs]})"
    raise AssertionError(f"unknown operand token {token!r}")


def disassemble(word: int) -> str:
    """Assembler-like text of an instruction word, e.g. `addiu $sp, $sp, -16`; `.word 0x...` if invalid."""
    insn = decode(word)
    if insn is None:
        return f".word {word:#010x}  # invalid"
    f = Fields(word)
    if not insn.fmt:
        return insn.name
    return insn.name + " " + ", ".join(_operand(tok.strip(), f) for tok in insn.fmt.split(","))
