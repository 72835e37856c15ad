"""Every instruction of docs/vm.md on the reference interpreter: values, extension, hi/lo, branches, delay slots,
branch-likely nullification, every fault code, and the step witness. Expected values are written out by hand."""

from __future__ import annotations

import inspect

import pytest

import mips_asm as a
from mips_asm import A0, RA, SP, T0, T1, T2, T3, V0, ZERO
from opml.vm import interp, isa
from opml.vm.memory import root_after_write, verify_proof
from opml.vm.state import Fault, Status, VMState
from opml.vm.witness import Witness

BASE = 0x0010_0000
DATA = 0x0020_0000
M = 0xFFFF_FFFF


def machine(words, regs=None, hi=0, lo=0, pc=BASE, next_pc=None, data=b"") -> VMState:
    """A running state with `words` at `pc`, registers set (values taken mod 2^32) and `data` at DATA."""
    state = VMState(pc=pc, next_pc=pc + 4 if next_pc is None else next_pc, hi=hi, lo=lo)
    words = [words] if isinstance(words, int) else words
    state.memory.write_bytes(pc & ~3, a.assemble(words))
    if data:
        state.memory.write_bytes(DATA, data)
    for reg, value in (regs or {}).items():
        state.regs[reg] = value & M
    return state


def after(words, steps=1, **kwargs) -> VMState:
    state = machine(words, **kwargs)
    assert interp.run(state, steps) == steps
    return state


def assert_fault(words, code: Fault, steps=1, **kwargs) -> VMState:
    """Run `steps`; the last one must fault with `code` and change nothing but status, exitCode and step."""
    state = machine(words, **kwargs)
    if steps > 1:
        interp.run(state, steps - 1)
    before = state.header()
    interp.step(state)
    got = state.header()
    assert (got.status, got.exit_code) == (Status.FAULTED, code), f"{state}: expected fault {code.name}"
    assert got.step == before.step + 1
    assert (got.mem_root, got.pc, got.next_pc, got.lo, got.hi, got.regs) == (
        before.mem_root, before.pc, before.next_pc, before.lo, before.hi, before.regs)
    return state


def s(value: int) -> int:
    return value & M


# ---------------------------------------------------------------------------------------------------------------
# ALU


@pytest.mark.parametrize("word, regs, rd, expected", [
    (a.sll(T2, T0, 1), {T0: 0x8000_0001}, T2, 0x0000_0002),
    (a.sll(T2, T0, 31), {T0: 1}, T2, 0x8000_0000),
    (a.srl(T2, T0, 4), {T0: 0x8000_0000}, T2, 0x0800_0000),
    (a.sra(T2, T0, 4), {T0: 0x8000_0000}, T2, 0xF800_0000),
    (a.sra(T2, T0, 4), {T0: 0x4000_0000}, T2, 0x0400_0000),
    (a.sllv(T2, T0, T1), {T0: 0x8000_0001, T1: 33}, T2, 0x0000_0002),
    (a.srlv(T2, T0, T1), {T0: 0x8000_0000, T1: 36}, T2, 0x0800_0000),
    (a.srav(T2, T0, T1), {T0: 0x8000_0000, T1: 36}, T2, 0xF800_0000),
    (a.movz(T2, T0, T1), {T0: 7, T1: 0, T2: 1}, T2, 7),
    (a.movz(T2, T0, T1), {T0: 7, T1: 3, T2: 1}, T2, 1),
    (a.movn(T2, T0, T1), {T0: 7, T1: 3, T2: 1}, T2, 7),
    (a.movn(T2, T0, T1), {T0: 7, T1: 0, T2: 1}, T2, 1),
    (a.add(T2, T0, T1), {T0: 1, T1: 2}, T2, 3),
    (a.add(T2, T0, T1), {T0: -1, T1: -1}, T2, s(-2)),
    (a.add(T2, T0, T1), {T0: 0x7FFF_FFFF, T1: -1}, T2, 0x7FFF_FFFE),
    (a.addu(T2, T0, T1), {T0: 0xFFFF_FFFF, T1: 2}, T2, 1),
    (a.addu(T2, T0, T1), {T0: 0x7FFF_FFFF, T1: 1}, T2, 0x8000_0000),
    (a.sub(T2, T0, T1), {T0: 3, T1: 5}, T2, s(-2)),
    (a.sub(T2, T0, T1), {T0: -0x8000_0000, T1: -1}, T2, s(-0x7FFF_FFFF)),
    (a.subu(T2, T0, T1), {T0: 0, T1: 1}, T2, 0xFFFF_FFFF),
    (a.subu(T2, T0, T1), {T0: 0x8000_0000, T1: 1}, T2, 0x7FFF_FFFF),
    (a.and_(T2, T0, T1), {T0: 0xF0F0_1234, T1: 0xFF00_FF00}, T2, 0xF000_1200),
    (a.or_(T2, T0, T1), {T0: 0xF0F0_1234, T1: 0xFF00_FF00}, T2, 0xFFF0_FF34),
    (a.xor(T2, T0, T1), {T0: 0xF0F0_1234, T1: 0xFF00_FF00}, T2, 0x0FF0_ED34),
    (a.nor(T2, T0, T1), {T0: 0xF0F0_1234, T1: 0xFF00_FF00}, T2, 0x000F_00CB),
    (a.slt(T2, T0, T1), {T0: -1, T1: 1}, T2, 1),
    (a.slt(T2, T0, T1), {T0: 1, T1: -1}, T2, 0),
    (a.slt(T2, T0, T1), {T0: 5, T1: 5}, T2, 0),
    (a.sltu(T2, T0, T1), {T0: -1, T1: 1}, T2, 0),
    (a.sltu(T2, T0, T1), {T0: 1, T1: -1}, T2, 1),
    (a.addi(T2, T0, -1), {T0: 0}, T2, 0xFFFF_FFFF),
    (a.addi(T2, T0, 0x7FFF), {T0: 1}, T2, 0x8000),
    (a.addiu(T2, T0, 1), {T0: 0xFFFF_FFFF}, T2, 0),
    (a.addiu(T2, T0, -0x8000), {T0: 0}, T2, 0xFFFF_8000),
    (a.addiu(T2, T0, 1), {T0: 0x7FFF_FFFF}, T2, 0x8000_0000),  # no overflow fault
    (a.slti(T2, T0, -4), {T0: -5}, T2, 1),
    (a.slti(T2, T0, -4), {T0: 0x7FFF_FFFF}, T2, 0),
    (a.sltiu(T2, T0, -1), {T0: 5}, T2, 1),  # against 0xFFFFFFFF
    (a.sltiu(T2, T0, -1), {T0: 0xFFFF_FFFF}, T2, 0),
    (a.sltiu(T2, T0, 0x10), {T0: 0x8000_0000}, T2, 0),
    (a.andi(T2, T0, 0x8000), {T0: 0xFFFF_FFFF}, T2, 0x8000),  # zero-extended
    (a.ori(T2, T0, 0x8001), {T0: 0x1000_0000}, T2, 0x1000_8001),
    (a.xori(T2, T0, 0xFFFF), {T0: 0xFFFF_0F0F}, T2, 0xFFFF_F0F0),
    (a.lui(T2, 0x8001), {}, T2, 0x8001_0000),
    (a.mul(T2, T0, T1), {T0: 0x10000, T1: 0x10001}, T2, 0x0001_0000),
    (a.mul(T2, T0, T1), {T0: -3, T1: 7}, T2, s(-21)),
    (a.clz(T2, T0), {T0: 0}, T2, 32),
    (a.clz(T2, T0), {T0: 1}, T2, 31),
    (a.clz(T2, T0), {T0: 0x8000_0000}, T2, 0),
    (a.clz(T2, T0), {T0: 0x0001_2345}, T2, 15),
    (a.clo(T2, T0), {T0: 0xFFFF_FFFF}, T2, 32),
    (a.clo(T2, T0), {T0: 0xF000_0000}, T2, 4),
    (a.clo(T2, T0), {T0: 0x7FFF_FFFF}, T2, 0),
], ids=lambda v: isa.disassemble(v) if isinstance(v, int) and v > 0xFFFF else None)
def test_register_results(word, regs, rd, expected):
    state = after(word, regs=regs)
    assert state.regs[rd] == expected, isa.disassemble(word)
    assert (state.pc, state.next_pc, state.step, state.status) == (BASE + 4, BASE + 8, 1, Status.RUNNING)
    untouched = {r: v & M for r, v in regs.items() if r != rd}
    assert all(state.regs[r] == v for r, v in untouched.items())
    assert (state.hi, state.lo) == (0, 0)


def test_writes_to_register_zero_are_discarded():
    for word in (a.addiu(ZERO, ZERO, 5), a.lui(ZERO, 1), a.jalr(ZERO, T0), a.lw(ZERO, 0, T1), a.sc(ZERO, 0, T1)):
        state = after(word, regs={T0: BASE + 0x40, T1: DATA}, data=b"\x01\x02\x03\x04")
        assert state.regs[0] == 0, isa.disassemble(word)
    assert after(a.jalr(ZERO, T0), regs={T0: BASE + 0x40}).next_pc == BASE + 0x40


@pytest.mark.parametrize("word, regs, hi, lo, expected_hi, expected_lo", [
    (a.mult(T0, T1), {T0: -3, T1: 5}, 0, 0, 0xFFFF_FFFF, 0xFFFF_FFF1),
    (a.mult(T0, T1), {T0: 0x8000_0000, T1: 0x8000_0000}, 0, 0, 0x4000_0000, 0),
    (a.multu(T0, T1), {T0: 0xFFFF_FFFF, T1: 0xFFFF_FFFF}, 0, 0, 0xFFFF_FFFE, 1),
    (a.multu(T0, T1), {T0: -3, T1: 5}, 0, 0, 4, 0xFFFF_FFF1),
    (a.div(T0, T1), {T0: 7, T1: -2}, 0, 0, 1, s(-3)),
    (a.div(T0, T1), {T0: -7, T1: 2}, 0, 0, s(-1), s(-3)),
    (a.div(T0, T1), {T0: -7, T1: -2}, 0, 0, s(-1), 3),
    (a.div(T0, T1), {T0: -0x8000_0000, T1: -1}, 0, 0, 0, 0x8000_0000),
    (a.divu(T0, T1), {T0: 0xFFFF_FFFF, T1: 2}, 0, 0, 1, 0x7FFF_FFFF),
    (a.divu(T0, T1), {T0: 7, T1: -2}, 0, 0, 7, 0),
    (a.madd(T0, T1), {T0: -1, T1: 1}, 1, 0, 0, 0xFFFF_FFFF),
    (a.madd(T0, T1), {T0: 0x4000_0000, T1: 4}, 0, 5, 1, 5),
    (a.maddu(T0, T1), {T0: 1, T1: 1}, 0xFFFF_FFFF, 0xFFFF_FFFF, 0, 0),  # wraps mod 2^64
    (a.maddu(T0, T1), {T0: 0xFFFF_FFFF, T1: 2}, 0, 2, 2, 0),
    (a.msub(T0, T1), {T0: 2, T1: 3}, 0, 0, 0xFFFF_FFFF, s(-6)),
    (a.msub(T0, T1), {T0: -2, T1: 3}, 0, 0, 0, 6),
    (a.msubu(T0, T1), {T0: 0xFFFF_FFFF, T1: 1}, 0, 5, 0xFFFF_FFFF, 6),
    (a.mthi(T0), {T0: 0x1234}, 0, 7, 0x1234, 7),
    (a.mtlo(T0), {T0: 0x1234}, 9, 0, 9, 0x1234),
])
def test_hi_lo(word, regs, hi, lo, expected_hi, expected_lo):
    state = after(word, regs=regs, hi=hi, lo=lo)
    assert (state.hi, state.lo) == (expected_hi, expected_lo), isa.disassemble(word)


def test_mul_leaves_hi_lo_alone_and_mfhi_mflo_read_them():
    assert (after(a.mul(T2, T0, T1), regs={T0: 3, T1: 4}, hi=5, lo=6).hi, 6) == (5, 6)
    state = after([a.mfhi(T0), a.mflo(T1)], steps=2, hi=0xAAAA_0000, lo=0x5555)
    assert (state.regs[T0], state.regs[T1]) == (0xAAAA_0000, 0x5555)


# ---------------------------------------------------------------------------------------------------------------
# Loads and stores

MEMORY = bytes([0x80, 0x7F, 0x01, 0xFF, 0x11, 0x22, 0x33, 0x44])


@pytest.mark.parametrize("word, expected", [
    (a.lb(T2, 0, T0), 0xFFFF_FF80),
    (a.lb(T2, 1, T0), 0x7F),
    (a.lbu(T2, 0, T0), 0x80),
    (a.lh(T2, 0, T0), 0x7F80),
    (a.lh(T2, 2, T0), 0xFFFF_FF01),
    (a.lhu(T2, 2, T0), 0xFF01),
    (a.lw(T2, 0, T0), 0xFF01_7F80),
    (a.lw(T2, 4, T0), 0x4433_2211),
    (a.ll(T2, 4, T0), 0x4433_2211),
    (a.lw(T2, 0x104, T1), 0x4433_2211),  # positive offset
    (a.lw(T2, -4, T0), 0),  # negative offset into never-written memory
    (a.lwl(T2, 4, T0), 0x11BB_CCDD),
    (a.lwl(T2, 5, T0), 0x2211_CCDD),
    (a.lwl(T2, 6, T0), 0x3322_11DD),
    (a.lwl(T2, 7, T0), 0x4433_2211),
    (a.lwr(T2, 4, T0), 0x4433_2211),
    (a.lwr(T2, 5, T0), 0xAA44_3322),
    (a.lwr(T2, 6, T0), 0xAABB_4433),
    (a.lwr(T2, 7, T0), 0xAABB_CC44),
])
def test_loads(word, expected):
    state = after(word, regs={T0: DATA, T1: DATA - 0x100, T2: 0xAABB_CCDD}, data=MEMORY)
    assert state.regs[T2] == expected, isa.disassemble(word)


def test_lwr_lwl_pair_loads_an_unaligned_word():
    state = after([a.lwr(T2, 1, T0), a.lwl(T2, 4, T0)], steps=2, regs={T0: DATA}, data=MEMORY)
    assert state.regs[T2] == int.from_bytes(MEMORY[1:5], "little")


@pytest.mark.parametrize("word, offset, expected", [
    (a.sb(T1, 5, T0), 4, 0x4433_DD11),
    (a.sh(T1, 6, T0), 4, 0xCCDD_2211),
    (a.sw(T1, 4, T0), 4, 0xAABB_CCDD),
    (a.swl(T1, 4, T0), 4, 0x4433_22AA),
    (a.swl(T1, 5, T0), 4, 0x4433_AABB),
    (a.swl(T1, 6, T0), 4, 0x44AA_BBCC),
    (a.swl(T1, 7, T0), 4, 0xAABB_CCDD),
    (a.swr(T1, 4, T0), 4, 0xAABB_CCDD),
    (a.swr(T1, 5, T0), 4, 0xBBCC_DD11),
    (a.swr(T1, 6, T0), 4, 0xCCDD_2211),
    (a.swr(T1, 7, T0), 4, 0xDD33_2211),
    (a.sw(T1, -8, T0), -8, 0xAABB_CCDD),  # a fresh page below DATA
])
def test_stores(word, offset, expected):
    state = after(word, regs={T0: DATA, T1: 0xAABB_CCDD}, data=MEMORY)
    assert state.memory.read_word(DATA + offset) == expected, isa.disassemble(word)
    others = [o for o in range(0, 8, 4) if o != offset]
    assert all(state.memory.read_bytes(DATA + o, 4) == MEMORY[o : o + 4] for o in others)
    assert state.regs[T1] == 0xAABB_CCDD


def test_swr_swl_pair_stores_an_unaligned_word():
    state = after([a.swr(T1, 1, T0), a.swl(T1, 4, T0)], steps=2, regs={T0: DATA, T1: 0xAABB_CCDD}, data=MEMORY)
    assert state.memory.read_bytes(DATA, 8) == bytes([0x80, 0xDD, 0xCC, 0xBB, 0xAA, 0x22, 0x33, 0x44])


def test_sc_stores_and_sets_rt_to_one():
    state = after(a.sc(T1, 0, T0), regs={T0: DATA, T1: 0x1234_5678})
    assert state.memory.read_word(DATA) == 0x1234_5678
    assert state.regs[T1] == 1


def test_store_into_code_changes_what_runs_next():
    """A decoded instruction is not reused after a store overwrites it (self-modifying code)."""
    state = machine([a.sw(T1, 8, T0), a.addiu(T2, T2, 1), a.addiu(T2, T2, 1)],
                    regs={T0: BASE, T1: a.addiu(T2, T2, 100)})
    interp.run(state, 3)
    assert state.regs[T2] == 101


def test_self_modifying_code_after_the_word_was_decoded():
    """Loop twice over a word that the first pass overwrites: the second pass runs the new instruction."""
    words = [
        a.addiu(T2, T2, 1),  # BASE: overwritten with addiu t2, t2, 10 in the first pass
        a.sw(T1, 0, T0),
        a.bne(T3, ZERO, -3),  # back to BASE while t3 != 0
        a.addiu(T3, T3, -1),  # delay slot
    ]
    state = machine(words, regs={T0: BASE, T1: a.addiu(T2, T2, 10), T3: 1})
    interp.run(state, 8)
    assert state.regs[T2] == 11


def test_pref_and_sync_do_nothing():
    state = after([a.pref(0, 0x10, T0), a.sync()], steps=2, regs={T0: 0xFFFF_FFF0})
    pristine = machine([a.pref(0, 0x10, T0), a.sync()], regs={T0: 0xFFFF_FFF0})
    assert state.memory.root() == pristine.memory.root()
    assert state.regs == pristine.regs and state.pc == BASE + 8


def test_effective_address_wraps_mod_2_32():
    state = after(a.lw(T2, 8, T0), regs={T0: 0xFFFF_FFFC}, data=b"")
    assert state.regs[T2] == 0
    state = machine(a.sw(T1, 8, T0), regs={T0: 0xFFFF_FFFC, T1: 77})
    interp.run(state, 1)
    assert state.memory.read_word(4) == 77


# ---------------------------------------------------------------------------------------------------------------
# Branches, jumps, delay slots


@pytest.mark.parametrize("encode, value, taken", [
    (lambda off: a.beq(T0, T1, off), {T0: 5, T1: 5}, True),
    (lambda off: a.beq(T0, T1, off), {T0: 5, T1: 6}, False),
    (lambda off: a.bne(T0, T1, off), {T0: 5, T1: 6}, True),
    (lambda off: a.bne(T0, T1, off), {T0: 5, T1: 5}, False),
    (lambda off: a.blez(T0, off), {T0: 0}, True),
    (lambda off: a.blez(T0, off), {T0: -1}, True),
    (lambda off: a.blez(T0, off), {T0: 1}, False),
    (lambda off: a.bgtz(T0, off), {T0: 1}, True),
    (lambda off: a.bgtz(T0, off), {T0: 0}, False),
    (lambda off: a.bgtz(T0, off), {T0: 0x8000_0000}, False),
    (lambda off: a.bltz(T0, off), {T0: -1}, True),
    (lambda off: a.bltz(T0, off), {T0: 0}, False),
    (lambda off: a.bgez(T0, off), {T0: 0}, True),
    (lambda off: a.bgez(T0, off), {T0: -5}, False),
])
@pytest.mark.parametrize("likely", [False, True])
@pytest.mark.parametrize("offset", [3, -1])
def test_conditional_branches(encode, value, taken, likely, offset):
    word = encode(offset)
    if likely:  # beq->beql (op | 0x10), REGIMM bltz/bgez -> bltzl/bgezl (rt | 2)
        word = word | 0x2 << 16 if word >> 26 == 1 else word | 0x10 << 26
    state = after(word, regs=value)
    target = (BASE + 4 + 4 * offset) & M
    if taken:
        assert (state.pc, state.next_pc) == (BASE + 4, target), isa.disassemble(word)
    elif likely:
        assert (state.pc, state.next_pc) == (BASE + 8, BASE + 12), isa.disassemble(word)
    else:
        assert (state.pc, state.next_pc) == (BASE + 4, BASE + 8), isa.disassemble(word)
    assert state.regs[RA] == 0


@pytest.mark.parametrize("word, ra, taken", [
    (a.bltzal(T0, 3), -1, True), (a.bltzal(T0, 3), 1, False),
    (a.bgezal(T0, 3), 0, True), (a.bgezal(T0, 3), -1, False),
    (a.bltzall(T0, 3), -1, True), (a.bltzall(T0, 3), 1, False),
    (a.bgezall(T0, 3), 0, True), (a.bgezall(T0, 3), -1, False),
])
def test_linking_branches_link_whether_or_not_taken(word, ra, taken):
    state = after(word, regs={T0: ra})
    assert state.regs[RA] == BASE + 8
    likely = (word >> 16) & 2
    expected = (BASE + 4, BASE + 16) if taken else (BASE + 8, BASE + 12) if likely else (BASE + 4, BASE + 8)
    assert (state.pc, state.next_pc) == expected, isa.disassemble(word)


def test_bltzal_ra_compares_the_old_ra():
    assert after(a.bltzal(RA, 3), regs={RA: -4}).next_pc == BASE + 16  # old $31 negative: taken
    assert after(a.bgezal(RA, 3), regs={RA: -4}).next_pc == BASE + 8  # old $31 negative: not taken


def test_delay_slot_executes_before_the_target():
    words = [a.beq(ZERO, ZERO, 3), a.addiu(T0, T0, 1), a.addiu(T0, T0, 10), a.addiu(T0, T0, 100),
             a.addiu(T1, T0, 0)]
    state = after(words, steps=3)
    assert state.regs[T1] == 1 and state.pc == BASE + 20


def test_branch_likely_not_taken_skips_the_delay_slot():
    words = [a.beql(T0, ZERO, 3), a.addiu(T1, T1, 1), a.addiu(T2, T2, 1)]
    state = after(words, steps=2, regs={T0: 1})
    assert (state.regs[T1], state.regs[T2]) == (0, 1)
    assert state.step == 2


def test_j_and_jal_keep_the_region_bits_of_pc_plus_4():
    state = after(a.j(0x00AB_CDE0))
    assert (state.pc, state.next_pc) == (BASE + 4, 0x00AB_CDE0)
    pc = 0x1FFF_FFFC  # pc + 4 is in the next 256 MiB region
    state = after(a.jal(0x0000_0100), pc=pc)
    assert state.next_pc == 0x2000_0100
    assert state.regs[RA] == (pc + 8) & M


def test_jr_and_jalr():
    state = after(a.jr(T0), regs={T0: 0x1234_5678})
    assert (state.pc, state.next_pc) == (BASE + 4, 0x1234_5678)
    state = after(a.jalr(RA, RA), regs={RA: 0x0040_0000})  # target read before the link
    assert (state.next_pc, state.regs[RA]) == (0x0040_0000, BASE + 8)
    state = after(a.jalr(T1, T0), regs={T0: 0x0040_0000})
    assert (state.next_pc, state.regs[T1], state.regs[RA]) == (0x0040_0000, BASE + 8, 0)


def test_call_and_return_through_the_delay_slots():
    words = [a.jal(BASE + 0x20), a.addiu(T0, ZERO, 1), a.addiu(T1, T0, 5)] + [0] * 5 + [
        a.jr(RA), a.addiu(T0, T0, 2)]
    state = after(words, steps=5)
    assert (state.regs[T0], state.regs[T1], state.pc) == (3, 8, BASE + 12)


def test_sequential_pc_wraps_at_the_top_of_memory():
    state = after([a.addiu(T0, T0, 1), a.addiu(T0, T0, 1)], steps=2, pc=0xFFFF_FFF8)
    assert (state.pc, state.next_pc, state.regs[T0]) == (0, 4, 2)
    state = after([a.beq(ZERO, ZERO, 0), a.nop()], steps=1, pc=0xFFFF_FFF8)
    assert (state.pc, state.next_pc) == (0xFFFF_FFFC, 0xFFFF_FFFC)
    state = after([a.nop(), a.beq(ZERO, ZERO, 1)], steps=2, pc=0xFFFF_FFF8)
    assert (state.pc, state.next_pc) == (0, 4)  # branch at 0xFFFFFFFC: no spurious delay-slot fault


# ---------------------------------------------------------------------------------------------------------------
# syscall and faults


@pytest.mark.parametrize("number", [4001, 4246])
def test_exit_syscalls(number):
    state = after(a.syscall(), regs={V0: number, A0: 0x1234})
    assert (state.status, state.exit_code, state.step) == (Status.EXITED, 0x34, 1)
    assert (state.pc, state.next_pc) == (BASE + 4, BASE + 8)
    header = state.header()
    assert interp.run(state, 10) == 0 and state.header() == header  # an exited state stays put
    assert interp.step(state, witness=True).proof == b""
    assert state.header() == header


def test_fault_bad_syscall():
    assert_fault(a.syscall(), Fault.BAD_SYSCALL, regs={V0: 4004, A0: 1})


def test_fault_break():
    assert_fault(a.break_(7), Fault.TRAP)


@pytest.mark.parametrize("word, regs, traps", [
    (a.tge(T0, T1), {T0: -1, T1: -2}, True), (a.tge(T0, T1), {T0: -2, T1: -1}, False),
    (a.tgeu(T0, T1), {T0: -1, T1: 1}, True), (a.tgeu(T0, T1), {T0: 1, T1: -1}, False),
    (a.tlt(T0, T1), {T0: -2, T1: 1}, True), (a.tlt(T0, T1), {T0: 1, T1: -2}, False),
    (a.tltu(T0, T1), {T0: 1, T1: -2}, True), (a.tltu(T0, T1), {T0: -2, T1: 1}, False),
    (a.teq(T0, T1), {T0: 3, T1: 3}, True), (a.teq(T0, T1), {T0: 3, T1: 4}, False),
    (a.tne(T0, T1), {T0: 3, T1: 4}, True), (a.tne(T0, T1), {T0: 3, T1: 3}, False),
    (a.tgei(T0, -1), {T0: -1}, True), (a.tgei(T0, -1), {T0: -2}, False),
    (a.tgeiu(T0, -1), {T0: 0xFFFF_FFFF}, True), (a.tgeiu(T0, -1), {T0: 5}, False),
    (a.tlti(T0, -1), {T0: -2}, True), (a.tlti(T0, -1), {T0: 0}, False),
    (a.tltiu(T0, -1), {T0: 5}, True), (a.tltiu(T0, 5), {T0: -1}, False),
    (a.teqi(T0, -1), {T0: 0xFFFF_FFFF}, True), (a.teqi(T0, 1), {T0: 0}, False),
    (a.tnei(T0, 0), {T0: 1}, True), (a.tnei(T0, 0), {T0: 0}, False),
])
def test_conditional_traps(word, regs, traps):
    if traps:
        assert_fault(word, Fault.TRAP, regs=regs)
    else:
        state = after(word, regs=regs)
        assert (state.status, state.pc) == (Status.RUNNING, BASE + 4), isa.disassemble(word)


@pytest.mark.parametrize("word, regs", [
    (a.add(T2, T0, T1), {T0: 0x7FFF_FFFF, T1: 1}),
    (a.add(T2, T0, T1), {T0: 0x8000_0000, T1: -1}),
    (a.add(ZERO, T0, T1), {T0: 0x7FFF_FFFF, T1: 0x7FFF_FFFF}),  # faults even with $0 as destination
    (a.addi(T2, T0, 1), {T0: 0x7FFF_FFFF}),
    (a.addi(T2, T0, -1), {T0: 0x8000_0000}),
    (a.sub(T2, T0, T1), {T0: 0x8000_0000, T1: 1}),
    (a.sub(T2, T0, T1), {T0: 0x7FFF_FFFF, T1: -1}),
])
def test_fault_overflow(word, regs):
    assert_fault(word, Fault.OVERFLOW, regs=regs | {T2: 0x5555})


@pytest.mark.parametrize("word", [a.div(T0, T1), a.divu(T0, T1)])
def test_fault_division_by_zero(word):
    assert_fault(word, Fault.DIVISION_BY_ZERO, regs={T0: 5, T1: 0}, hi=1, lo=2)


@pytest.mark.parametrize("word, offset", [
    (a.lh(T2, 1, T0), 1), (a.lhu(T2, 3, T0), 3), (a.sh(T2, 1, T0), 1),
    (a.lw(T2, 2, T0), 2), (a.sw(T2, 1, T0), 1), (a.ll(T2, 3, T0), 3), (a.sc(T2, 2, T0), 2),
])
def test_fault_unaligned_access(word, offset):
    state = assert_fault(word, Fault.UNALIGNED_ACCESS, regs={T0: DATA, T2: 0x77}, data=MEMORY)
    assert state.memory.read_bytes(DATA, 8) == MEMORY


def test_fault_unaligned_fetch():
    state = VMState(pc=BASE + 2, next_pc=BASE + 6)
    interp.step(state)
    assert (state.status, state.exit_code, state.pc, state.step) == (Status.FAULTED, Fault.UNALIGNED_FETCH, BASE + 2, 1)
    state = after(a.jr(T0), steps=2, regs={T0: BASE + 0x41})  # delay slot (zero word = nop) runs, then the fetch
    assert state.pc == BASE + 0x41 and (state.status, state.exit_code) == (Status.RUNNING, 0)
    interp.step(state)
    assert (state.status, state.exit_code) == (Status.FAULTED, Fault.UNALIGNED_FETCH)


@pytest.mark.parametrize("second", [
    a.beq(ZERO, ZERO, 4), a.bne(T0, ZERO, 4), a.bltzal(T0, 2), a.beql(ZERO, ZERO, 1),
    a.j(BASE), a.jal(BASE), a.jr(T0), a.jalr(RA, T0),
])
def test_fault_branch_in_delay_slot(second):
    state = assert_fault([a.beq(ZERO, ZERO, 7), second], Fault.BRANCH_IN_DELAY_SLOT, steps=2, regs={T0: 8})
    assert (state.pc, state.next_pc, state.regs[RA]) == (BASE + 4, BASE + 32, 0)


def test_fault_branch_when_next_pc_is_not_pc_plus_4():
    assert_fault(a.beq(ZERO, ZERO, 1), Fault.BRANCH_IN_DELAY_SLOT, next_pc=BASE + 0x100)
    # a non-branch in that position just follows nextPC
    state = after(a.addiu(T0, T0, 1), next_pc=BASE + 0x100)
    assert (state.pc, state.next_pc) == (BASE + 0x100, BASE + 0x104)


INVALID_WORDS = [
    a.r_type(0x01), a.r_type(0x05), a.r_type(0x0E), a.r_type(0x14), a.r_type(0x1C), a.r_type(0x28),
    a.r_type(0x35), a.r_type(0x37), a.r_type(0x3F),
    a.regimm(0x04, T0, 1), a.regimm(0x0F, T0, 1), a.regimm(0x1F, T0, 1),
    a.special2(0x03), a.special2(0x3F),
    0x7C05_2420,  # seb (SPECIAL3, mips32r2)
    0x7C85_3804,  # ins (SPECIAL3)
    0x4080_6000,  # mtc0
    0x4600_1080,  # add.s (COP1)
    0x4800_0000,  # COP2
    0x4C00_0000,  # COP1X
    0xBC00_0000,  # cache
    0xC400_0000,  # lwc1
    0xE400_0000,  # swc1
    0xD400_0000,  # ldc1
    0xF400_0000,  # sdc1
    0x9C00_0000,  # lwu (mips64)
    0xDC00_0000,  # ld
    0xFC00_0000,  # sd
    0x6000_0000, 0x6400_0000, 0x6800_0000, 0x6C00_0000, 0x7400_0000, 0x7800_0000,
    0xB000_0000, 0xB400_0000, 0xE800_0000, 0xEC00_0000,
]


@pytest.mark.parametrize("word", INVALID_WORDS, ids=hex)
def test_fault_invalid_instruction(word):
    assert isa.decode(word) is None
    assert_fault(word, Fault.INVALID_INSTRUCTION)


def test_every_fault_code_is_tested():
    tested = {Fault.BAD_SYSCALL, Fault.TRAP, Fault.OVERFLOW, Fault.DIVISION_BY_ZERO, Fault.UNALIGNED_ACCESS,
              Fault.UNALIGNED_FETCH, Fault.BRANCH_IN_DELAY_SLOT, Fault.INVALID_INSTRUCTION}
    assert tested == set(Fault)


# ---------------------------------------------------------------------------------------------------------------
# Decoding tables and the assembler agree; the disassembler


def _sample_word(name: str) -> int:
    fn = a.INSTRUCTIONS[name]
    required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    return fn(*range(1, len(required) + 1))


def test_assembler_covers_the_whole_set_and_decodes_to_the_same_names():
    table_names = sorted(i.name for t in (isa.SPECIAL, isa.REGIMM, isa.SPECIAL2, isa.OPCODES) for i in t.values())
    assert sorted(a.INSTRUCTIONS) == table_names
    assert len(table_names) == 91
    for name in a.INSTRUCTIONS:
        assert isa.decode(_sample_word(name)).name == name


@pytest.mark.parametrize("word, expected", [  # the words the GNU assembler gives for the same lines
    (a.addiu(SP, SP, -16), 0x27BD_FFF0),
    (a.lw(RA, 12, SP), 0x8FBF_000C),
    (a.jr(RA), 0x03E0_0008),
    (a.teq(T0, T1, 7), 0x0109_01F4),
    (a.syscall(0x12345), 0x0048_D14C),
    (a.clz(T0, T1), 0x7128_4020),
    (a.bltzal(T0, 2), 0x0510_0002),
    (a.sync(5), 0x0000_014F),
])
def test_assembler_encodes_as_the_gnu_assembler(word, expected):
    assert word == expected


@pytest.mark.parametrize("word, text", [
    (a.addiu(29, 29, -16), "addiu $sp, $sp, -16"),
    (a.lw(RA, 12, 29), "lw $ra, 12($sp)"),
    (a.sll(T2, T0, 3), "sll $t2, $t0, 3"),
    (a.beq(T0, ZERO, -2), "beq $t0, $zero, -8"),
    (a.jr(RA), "jr $ra"),
    (a.syscall(), "syscall"),
    (a.lui(T0, 0x20), "lui $t0, 0x20"),
    (0xFC00_0000, ".word 0xfc000000  # invalid"),
])
def test_disassemble(word, text):
    assert isa.disassemble(word) == text


def test_disassemble_every_instruction():
    for name in a.INSTRUCTIONS:
        assert isa.disassemble(_sample_word(name)).split()[0] == name


# ---------------------------------------------------------------------------------------------------------------
# Step witness


def _check_witness(state: VMState, words, expected_proofs: int) -> Witness:
    pre = state.encode()
    root = state.memory.root()
    witness = interp.step(state, witness=True)
    assert witness.state == pre
    proofs = witness.proofs()
    assert len(proofs) == expected_proofs, isa.disassemble(words[0])
    if proofs:
        leaf = verify_proof(root, BASE, proofs[0])
        assert leaf[:4] == a.assemble(words[:1])
    return witness


@pytest.mark.parametrize("word, proofs", [
    (a.addu(T2, T0, T1), 1), (a.beq(ZERO, ZERO, 1), 1), (a.syscall(), 1), (a.pref(0, 0, T0), 1),
    (a.lw(T2, 4, T0), 2), (a.lb(T2, 3, T0), 2), (a.lwl(T2, 3, T0), 2), (a.sh(T1, 2, T0), 2),
    (a.lw(T2, 2, T0), 1),  # unaligned: faults before touching memory
    (a.sc(T1, 1, T0), 1), (0xFC00_0000, 1),
])
def test_witness_holds_the_proofs_the_step_reads(word, proofs):
    state = machine(word, regs={T0: DATA, T1: 0x1234_5678, V0: 4004}, data=MEMORY)
    _check_witness(state, [word], proofs)


@pytest.mark.parametrize("word", [a.sw(T1, 4, T0), a.sb(T1, 5, T0), a.swl(T1, 6, T0), a.swr(T1, 7, T0),
                                  a.sw(T1, 0x20, T0)])
def test_store_witness_predicts_the_new_root(word):
    state = machine(word, regs={T0: DATA, T1: 0x1234_5678}, data=MEMORY)
    root = state.memory.root()
    address = isa.data_address(word, state.regs)
    old_leaf = state.memory.read_bytes(address & ~31, 32)
    witness = _check_witness(state, [word], 2)
    data_proof = witness.proofs()[1]
    assert verify_proof(root, address, data_proof) == old_leaf
    new_leaf = state.memory.read_bytes(address & ~31, 32)
    assert root_after_write(address, data_proof, new_leaf) == state.memory.root()


def test_witness_of_code_and_data_in_the_same_leaf():
    words = [a.lw(T2, 4, T0), a.addiu(T3, ZERO, 9)]
    state = machine(words, regs={T0: BASE})
    witness = _check_witness(state, words, 2)
    assert verify_proof(witness_root(witness), BASE + 4, witness.proofs()[1])[4:8] == a.assemble(words[1:])
    assert state.regs[T2] == words[1]


def witness_root(witness: Witness) -> bytes:
    return witness.state[:32]


def test_witness_of_unaligned_pc_and_of_a_halted_state():
    state = VMState(pc=BASE + 1, next_pc=BASE + 5)
    assert interp.step(state, witness=True).proof == b""
    assert state.status == Status.FAULTED
    assert interp.step(state, witness=True) == Witness(state.encode(), b"")
