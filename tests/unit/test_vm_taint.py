"""Data-free runs (`opml.vm.taint`): hand-written programs whose control does or does not depend on a data region.

Each program reads the word at DATA (the tainted region) into t0, does something with it, and exits 0. A data-free
verdict must come with the same step count that `run_fast` gives for several data values (so the verdict is
checked against the machine, not against itself); a dependent verdict names the cause and the pc of the first
step that a data value steers."""

from __future__ import annotations

import pytest

import mips_asm as a
from mips_asm import A0, T0, T1, T2, T3, ZERO
from opml.vm.fast import run_fast
from opml.vm.layout import Region
from opml.vm.state import Status, VMState
from opml.vm.taint import FlowCause, data_free_steps

BASE = 0x0010_0000
DATA = Region("data", 0x1000_0000, 12)
SCRATCH = 0x2000_0000  # untainted memory


def load_data() -> list[int]:
    """t0 <- the data word; t3 <- SCRATCH."""
    return [a.lui(T1, DATA.base >> 16), a.lw(T0, 0, T1), a.lui(T3, SCRATCH >> 16)]


def program(body: list[int], data: int = 5) -> VMState:
    words = load_data() + body + [a.addiu(A0, ZERO, 0)] + a.exit_()
    state = VMState(pc=BASE, next_pc=BASE + 4)
    state.memory.write_bytes(BASE, a.assemble(words))
    state.memory.write_bytes(DATA.base, data.to_bytes(4, "little"))
    return state


def steps_of(body: list[int], data: int) -> int:
    state = program(body, data)
    steps = run_fast(state)
    assert state.status == Status.EXITED and state.exit_code == 0
    return steps


def pc_of(body: list[int], index: int) -> int:
    """The pc of body[index]."""
    return BASE + 4 * (len(load_data()) + index)


DATA_FREE = {
    "arithmetic": [a.addu(T2, T0, T0), a.sll(T2, T2, 3), a.xori(T2, T2, 7), a.sw(T2, 0, T3)],
    "loop with a fixed count": [a.addiu(T1, ZERO, 4), a.addu(T2, T2, T0), a.addiu(T1, T1, -1),
                                a.bne(T1, ZERO, -3), a.nop(), a.sw(T2, 0, T3)],
    "select with movn": [a.slt(T2, T0, ZERO), a.movn(T0, ZERO, T2), a.sw(T0, 4, T3)],
    "multiply, divide by a constant": [a.mult(T0, T0), a.mflo(T2), a.addiu(T1, ZERO, 3), a.divu(T2, T1),
                                       a.mfhi(T2), a.sw(T2, 0, T3)],
    "an untainted word overwrites a tainted one": [a.sw(T0, 0, T3), a.sw(ZERO, 0, T3), a.lw(T2, 0, T3),
                                                   a.bne(T2, ZERO, 2), a.nop()],
    "hi/lo written from clean values": [a.mult(T0, T0), a.mthi(ZERO), a.mtlo(ZERO), a.mflo(T2),
                                        a.bne(T2, ZERO, 2), a.nop()],
    "writes to $0 stay clean": [a.addu(ZERO, T0, T0), a.bne(ZERO, ZERO, 2), a.nop()],
    "a register overwritten by a constant": [a.lui(T0, 3), a.beq(T0, ZERO, 2), a.nop()],
    "a byte read through a data address": [a.andi(T2, T0, 0xFF), a.addu(T2, T2, T3), a.lbu(T2, 0, T2),
                                           a.lwr(T1, 1, T2), a.sw(T2, 0, T3)],
}


@pytest.mark.parametrize("name", DATA_FREE)
def test_data_free_programs_take_their_steps_on_every_input(name: str) -> None:
    body = DATA_FREE[name]
    run = data_free_steps(program(body), [DATA])
    assert run.data_free and run.cause == FlowCause.NONE
    assert {steps_of(body, value) for value in (0, 1, 5, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)} == {run.steps}


# (body, cause, index in body of the first steered step)
DEPENDENT = {
    "branch on data": ([a.beq(T0, ZERO, 2), a.nop()], FlowCause.BRANCH, 0),
    "branch-likely on data": ([a.bgtzl(T0, 2), a.nop()], FlowCause.BRANCH, 0),
    "REGIMM branch on data": ([a.bltz(T0, 2), a.nop()], FlowCause.BRANCH, 0),
    "branch after arithmetic": ([a.srl(T2, T0, 4), a.andi(T2, T2, 1), a.bne(T2, ZERO, 2), a.nop()],
                                FlowCause.BRANCH, 2),
    "branch on data that went through memory": ([a.sw(T0, 8, T3), a.lw(T2, 8, T3), a.blez(T2, 2), a.nop()],
                                                FlowCause.BRANCH, 2),
    "branch on a word a byte store tainted": ([a.sb(T0, 1, T3), a.lw(T2, 0, T3), a.bne(T2, ZERO, 2), a.nop()],
                                              FlowCause.BRANCH, 2),
    "branch on a word lwl merged data into": ([a.sw(T0, 0, T3), a.lwl(T2, 3, T3), a.bne(T2, ZERO, 2), a.nop()],
                                              FlowCause.BRANCH, 2),
    "branch on a movz result": ([a.movz(T2, T0, ZERO), a.bne(T2, ZERO, 2), a.nop()], FlowCause.BRANCH, 1),
    "branch on a product": ([a.mult(T0, T0), a.mfhi(T2), a.bne(T2, ZERO, 2), a.nop()], FlowCause.BRANCH, 2),
    "branch on madd into clean hi/lo": ([a.mthi(ZERO), a.madd(T0, T0), a.mflo(T2), a.bne(T2, ZERO, 2), a.nop()],
                                        FlowCause.BRANCH, 3),
    "branch on a leading-zero count": ([a.clz(T2, T0), a.bne(T2, ZERO, 2), a.nop()], FlowCause.BRANCH, 1),
    "load through a data address": ([a.andi(T2, T0, 0xFC), a.addu(T2, T2, T3), a.lw(T2, 0, T2)],
                                    FlowCause.ADDRESS, 2),
    "branch on a byte read through a data address": ([a.addu(T2, T3, T0), a.lb(T2, 0, T2), a.bgez(T2, 2), a.nop()],
                                                     FlowCause.BRANCH, 2),
    "store through a data address": ([a.andi(T2, T0, 0xFC), a.addu(T2, T2, T3), a.sb(ZERO, 0, T2)],
                                     FlowCause.ADDRESS, 2),
    "jump to a data address": ([a.jr(T0), a.nop()], FlowCause.JUMP, 0),
    "division by data": ([a.addiu(T1, ZERO, 9), a.divu(T1, T0)], FlowCause.TRAP, 1),
    "trapping add on data": ([a.add(T2, T0, ZERO)], FlowCause.TRAP, 0),
    "trapping addi on data": ([a.addi(T2, T0, 1)], FlowCause.TRAP, 0),
    "trap on data": ([a.teq(T0, ZERO)], FlowCause.TRAP, 0),
    "exit code from data": ([a.move(A0, T0)] + a.exit_(A0), FlowCause.TRAP, 3),
    "code written from data": ([a.lui(T2, BASE >> 16), a.sw(T0, 4 * 40, T2)] + [a.nop()] * 40,
                               FlowCause.FETCH, 40 - 3),  # the word 40 words past BASE: body[37]
}


@pytest.mark.parametrize("name", DEPENDENT)
def test_the_first_step_data_steers_is_found(name: str) -> None:
    body, cause, index = DEPENDENT[name]
    run = data_free_steps(program(body, data=0), [DATA])
    assert (run.cause, run.pc) == (cause, pc_of(body, index))
    assert run.steps == len(load_data()) + index  # the steps before it ran, it did not


def test_steps_differ_when_data_steers_a_branch() -> None:
    """The dependent verdict is not a false alarm here: two data values give two step counts."""
    body, _, _ = DEPENDENT["branch on data"]
    assert steps_of(body, 0) != steps_of(body, 1)


def test_nothing_is_tainted_without_data_regions() -> None:
    body, _, _ = DEPENDENT["branch on data"]
    run = data_free_steps(program(body, data=1), [])
    assert run.data_free and run.steps == steps_of(body, 1)


def test_the_state_is_left_unchanged_and_a_halted_state_takes_no_steps() -> None:
    state = program(DATA_FREE["arithmetic"])
    before = state.hash()
    assert data_free_steps(state, [DATA]).steps > 0 and state.hash() == before
    run_fast(state)
    assert data_free_steps(state, [DATA]).steps == 0
