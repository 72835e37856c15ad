"""Data-free runs: a fast-executor run that proves its step count does not depend on the bytes of some memory
regions (a kernel's request-dependent inputs and its output), by carrying a taint bit for every register, hi, lo
and memory word.

The regions' words start tainted; every instruction's result is tainted when an operand it reads is (a load's,
when its word is; `movz`/`movn` also keep their destination's old taint; a partial store keeps the word's). The run
is *data-free* when no executed step lets a tainted value choose what happens next:

- no conditional branch, `jr` or `jalr` on a tainted register (`FlowCause.BRANCH`, `FlowCause.JUMP`);
- no store, and no load that may fault on alignment (`lh`, `lhu`, `lw`, `ll`), through a tainted address
  (`ADDRESS`); `lb`, `lbu`, `lwl` and `lwr` cannot fault, so through a tainted address they only taint the value
  (memory is total: every address reads as something, absent pages as zeros);
- no instruction that may fault or halt on a tainted operand: `add`/`addi`/`sub` (overflow), the divisor of
  `div`/`divu` (division by zero), the trap instructions, and `syscall`'s number or exit code (`TRAP`);
- no instruction fetched from a tainted word (`FETCH`).

Then every run from the same state with any other bytes in those regions executes the same instructions at the
same pcs, touching the same addresses, and halts the same way after the same number of steps: the step count
measured once holds for every input. (Induction on steps: the untainted registers and words hold the same values
in both runs, and each step's next pc, address and fault are functions of untainted values only.) Taint is an
over-approximation (`xor r, x, x` of a tainted x counts as tainted), so a data-free verdict is sound and a
dependent one may be a false alarm; the caller then measures every input as before.

The concrete semantics stay in one place: each step is executed by `opml.vm.fast._execute`; this module only
classifies the instruction (which registers it reads and writes, whether it branches, addresses memory or may
fault) around it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numba import njit

from opml.vm.fast import (FAULTED, M32, MISSING_PAGE, PC, SLOTS_USED, STATUS, STOP, STOP_PAGE_MISSING, STOP_POOL_FULL,
                          UNLIMITED, FastMachine, _execute, _sx16, fast_machine)
from opml.vm.layout import Region
from opml.vm.memory import PAGE_SHIFT
from opml.vm.state import Status, VMState

HI_TAINT, LO_TAINT = 32, 33  # rtaint slots after the 32 registers
TAINT_SLOTS = 34  # the 32 registers, hi, lo
HI_LO = -2  # as the register written: "both hi and lo" (mult, div, madd, ...)


class FlowCause(IntEnum):
    """Why a run is not data-free: the first step whose control a tainted value chooses."""

    NONE = 0
    BRANCH = 1  # conditional branch on a tainted register
    JUMP = 2  # jr / jalr to a tainted address
    ADDRESS = 3  # store, or a load that may fault on alignment, through a tainted address
    TRAP = 4  # may fault or halt on a tainted operand (overflow, division by zero, trap, syscall)
    FETCH = 5  # instruction fetched from a tainted word


@dataclass(frozen=True)
class TaintRun:
    """Steps executed; `cause` NONE when the run halted (or hit its limit) data-free, else the first step that was
    not, at `pc` (not executed, not counted)."""

    steps: int
    cause: FlowCause
    pc: int

    @property
    def data_free(self) -> bool:
        return self.cause == FlowCause.NONE


# -- the compiled loop ----------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _page_tainted(tainted_pages, page):
    for k in range(tainted_pages.shape[0]):
        if tainted_pages[k, 0] <= page < tainted_pages[k, 1]:
            return True
    return False


@njit(cache=True)
def _classify(insn, rtaint):
    """(cause, register written (-1 none, HI_LO both), its taint, memory access) of one instruction before it runs,
    from the taint of what it reads (the rules of the module docstring). Memory access: 0 none, 1 load, 2 load merging rt (lwl/lwr), 3 full-word store,
    4 partial store (sb, sh, swl, swr); a load's destination taint is its word's, known after the step."""
    op = insn >> 26
    rs = (insn >> 21) & 31
    rt = (insn >> 16) & 31
    rd = (insn >> 11) & 31
    ta = rtaint[rs]
    tb = rtaint[rt]
    if op == 0:  # SPECIAL
        f = insn & 63
        if f <= 0x03:
            return 0, rd, tb, 0
        if f <= 0x07:
            return 0, rd, ta | tb, 0
        if f == 0x08 or f == 0x09:
            return (2 if ta else 0), (rd if f == 0x09 else -1), 0, 0
        if f == 0x0A or f == 0x0B:
            return 0, rd, ta | tb | rtaint[rd], 0
        if f == 0x0C:
            return (4 if rtaint[2] | rtaint[4] else 0), -1, 0, 0
        if f == 0x10:
            return 0, rd, rtaint[HI_TAINT], 0
        if f == 0x12:
            return 0, rd, rtaint[LO_TAINT], 0
        if f == 0x11:
            return 0, HI_TAINT, ta, 0
        if f == 0x13:
            return 0, LO_TAINT, ta, 0
        if f == 0x18 or f == 0x19:
            return 0, HI_LO, ta | tb, 0
        if f == 0x1A or f == 0x1B:
            return (4 if tb else 0), HI_LO, ta | tb, 0
        if f == 0x20 or f == 0x22:
            return (4 if ta | tb else 0), rd, 0, 0
        if f >= 0x21 and f <= 0x2B:
            return 0, rd, ta | tb, 0
        if f >= 0x30 and f <= 0x36:
            return (4 if ta | tb else 0), -1, 0, 0
        return 0, -1, 0, 0  # break, sync, invalid: no data involved
    if op == 0x01:  # REGIMM: branches (and-link), traps
        if rt & 0x08:
            return (4 if ta else 0), -1, 0, 0
        return (1 if ta else 0), (31 if rt & 0x10 else -1), 0, 0
    if op == 0x02:
        return 0, -1, 0, 0
    if op == 0x03:
        return 0, 31, 0, 0
    if (op >= 0x04 and op <= 0x07) or (op >= 0x14 and op <= 0x17):
        return (1 if ta | tb else 0), -1, 0, 0
    if op == 0x08:  # addi
        return (4 if ta else 0), rt, 0, 0
    if op >= 0x09 and op <= 0x0E:
        return 0, rt, ta, 0
    if op == 0x0F:
        return 0, rt, 0, 0
    if op == 0x1C:  # SPECIAL2
        f = insn & 63
        if f == 0x02:
            return 0, rd, ta | tb, 0
        if f == 0x20 or f == 0x21:
            return 0, rd, ta, 0
        return 0, HI_LO, ta | tb | rtaint[HI_TAINT] | rtaint[LO_TAINT], 0
    if op == 0x20 or op == 0x24:  # lb, lbu: no alignment to fault on, a tainted address only taints the value
        return 0, rt, ta, 1
    if op == 0x22 or op == 0x26:  # lwl, lwr: the same
        return 0, rt, ta | tb, 2
    if op == 0x21 or op == 0x23 or op == 0x25 or op == 0x30:
        return (3 if ta else 0), rt, 0, 1
    if op == 0x2B:
        return (3 if ta else 0), -1, tb, 3
    if op == 0x38:  # sc: stores, then rt <- 1
        return (3 if ta else 0), rt, tb, 3
    if op == 0x28 or op == 0x29 or op == 0x2A or op == 0x2E:
        return (3 if ta else 0), -1, tb, 4
    return 0, -1, 0, 0  # pref, invalid


@njit(cache=True, nogil=True)
def _taint_execute(regs, ctl, table, pool, slot_page, dirty, shadow, rtaint, tainted_pages, limit, found):
    """Runs up to `limit` steps one at a time through `_execute`, carrying taint; returns the steps executed.
    Stops before a step whose control is tainted (found[0] = its FlowCause, found[1] = its pc) and, like
    `_execute`, when a page must be loaded or the pool grown first (ctl[STOP]); new slots get their page's taint."""
    steps = 0
    while steps < limit and ctl[STATUS] == 0:
        pc = ctl[PC]
        slot = table[pc >> 12]
        if slot >= 0 and (pc & 3) == 0:
            word = (pc >> 2) & 1023
            if shadow[slot, word]:
                found[0], found[1] = 5, pc
                return steps
            insn = np.int64(pool[slot, word])
            cause, written, taint, access = _classify(insn, rtaint)
            if cause:
                found[0], found[1] = cause, pc
                return steps
            addr = (regs[(insn >> 21) & 31] + _sx16(insn & 0xFFFF)) & M32
        else:  # _execute stops for the missing page, or faults on the fetch
            written, taint, access, addr = -1, 0, 0, 0
        used = ctl[SLOTS_USED]
        done = _execute(regs, ctl, table, pool, slot_page, dirty, 1)
        for fresh in range(used, ctl[SLOTS_USED]):  # a store gave an absent page a slot
            shadow[fresh, :] = 1 if _page_tainted(tainted_pages, slot_page[fresh]) else 0
        if done == 0:  # STOP_PAGE_MISSING / STOP_POOL_FULL: nothing ran
            return steps
        steps += done
        if ctl[STATUS] == FAULTED:
            break
        if access:
            mslot = table[addr >> 12]
            mword = (addr >> 2) & 1023
            if access <= 2:
                taint = taint | shadow[mslot, mword]
            elif access == 3:
                shadow[mslot, mword] = taint
                taint = 0  # sc's rt
            else:
                shadow[mslot, mword] = shadow[mslot, mword] | taint
        if written == HI_LO:
            rtaint[HI_TAINT] = taint
            rtaint[LO_TAINT] = taint
        elif written >= 0:
            rtaint[written] = taint
        rtaint[0] = 0
    return steps


# -- Python side ----------------------------------------------------------------------------------------------


class TaintMachine(FastMachine):
    """A FastMachine whose runs (`taint_run`) also carry taint from the `data` regions (each run starts with
    exactly their words tainted and every register clean)."""

    def __init__(self, state: VMState, data: Sequence[Region], table: np.ndarray | None = None) -> None:
        super().__init__(state, table)
        self.tainted_pages = np.array([(r.base >> PAGE_SHIFT, r.end >> PAGE_SHIFT) for r in data],
                                      dtype=np.int64).reshape(-1, 2)
        self.shadow = np.zeros(self.pool.shape, dtype=np.uint8)
        self.rtaint = np.zeros(TAINT_SLOTS, dtype=np.int64)

    def _page_taint(self, page: int) -> int:
        return int(_page_tainted(self.tainted_pages, page))

    def _load(self, page: int) -> None:
        super()._load(page)
        self.shadow[self.table[page]] = self._page_taint(page)

    def _grow(self) -> None:
        super()._grow()
        extra = self.pool.shape[0] - self.shadow.shape[0]
        self.shadow = np.concatenate((self.shadow, np.zeros((extra, self.shadow.shape[1]), dtype=np.uint8)))

    def _retaint(self) -> None:
        used = int(self.ctl[SLOTS_USED])
        self.shadow[0] = 0  # the shared zero page
        for slot in range(1, used):
            self.shadow[slot] = self._page_taint(int(self.slot_page[slot]))
        self.rtaint[:] = 0

    def taint_run(self, max_steps: int | None = None) -> TaintRun:
        """Run from the machine's state as it stands, with fresh taint, until it halts, `max_steps` steps ran, or
        a step's control would depend on the data (that step is not executed)."""
        self._retaint()
        limit = UNLIMITED if max_steps is None else max_steps
        found = np.zeros(2, dtype=np.int64)
        done = 0
        while self.running and done < limit and found[0] == 0:
            done += _taint_execute(self.regs, self.ctl, self.table, self.pool, self.slot_page, self.dirty,
                                   self.shadow, self.rtaint, self.tainted_pages, limit - done, found)
            if found[0]:
                break
            if self.ctl[STOP] == STOP_POOL_FULL:
                self._grow()
            elif self.ctl[STOP] == STOP_PAGE_MISSING:
                self._load(int(self.ctl[MISSING_PAGE]))
        self.step += done
        return TaintRun(done, FlowCause(int(found[0])), int(found[1]))


@contextmanager
def taint_machine(state: VMState, data: Sequence[Region]) -> Iterator[TaintMachine]:
    """A TaintMachine on `state` with the `data` regions tainted, on this thread's spare page table (as
    `opml.vm.fast.fast_machine`)."""
    with fast_machine(state, lambda s, table: TaintMachine(s, data, table)) as machine:
        yield machine  # type: ignore[misc]


def data_free_steps(state: VMState, data: Sequence[Region], max_steps: int | None = None) -> TaintRun:
    """One taint run of `state` (left unchanged) with the `data` regions tainted."""
    if state.status != Status.RUNNING:
        return TaintRun(0, FlowCause.NONE, state.pc)
    with taint_machine(state, data) as machine:
        return machine.taint_run(max_steps)
