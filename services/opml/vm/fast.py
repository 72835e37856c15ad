"""The fast executor: the semantics of docs/vm.md compiled with numba, for long runs without witnesses.

`run_fast(state, max_steps)` executes exactly what `opml.vm.interp.run` executes (the differential tests hold
the two to identical states at every step count) at tens of times the speed (`bench/bench_vm.py`: over 10^8
instructions/s on the matmul kernel).

Machine image inside the compiled loop:
- `regs`: int64[32] holding unsigned 32-bit values; `ctl`: int64[CTL_SIZE] with pc, nextPC, lo, hi, status, exit
  code, the pool fill level and why the loop stopped.
- Memory: `table` maps each 4 KiB page number (2^20 of them) to a slot of `pool` (uint32[slots, 1024], native
  little-endian words = the VM's little-endian bytes). Slot 0 is a permanent all-zero page that every absent
  page maps to, so loads never branch on presence; the first store to a page gives it a slot of its own.
  When the pool is full the loop stops before that store and Python grows the pool and resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property

import numpy as np
from numba import njit

from opml.vm.memory import PAGE_SHIFT, PAGE_SIZE
from opml.vm.state import U64, Fault, Status, VMState

PAGE_WORDS = 1 << (PAGE_SHIFT - 2)
PAGE_COUNT = 1 << (32 - PAGE_SHIFT)
UNLIMITED = 1 << 62

# ctl indices
PC, NEXT_PC, LO, HI, STATUS, EXIT_CODE, SLOTS_USED, STOP, MISSING_PAGE = range(9)
CTL_SIZE = 9

# why the compiled loop returned (ctl[STOP])
STOP_LIMIT = 0  # executed the requested number of steps
STOP_HALTED = 1  # the machine exited or faulted (the halting step is counted)
STOP_POOL_FULL = 2  # a store needs a fresh page slot; nothing of that step was executed
STOP_PAGE_MISSING = 3  # the step touches a page of memory not loaded yet (ctl[MISSING_PAGE]); nothing executed
NOT_LOADED = -1  # table entry of a page that memory holds but the pool does not yet

# fault codes as plain ints (numba folds them into the compiled code)
F_INVALID = int(Fault.INVALID_INSTRUCTION)
F_FETCH = int(Fault.UNALIGNED_FETCH)
F_ACCESS = int(Fault.UNALIGNED_ACCESS)
F_DELAY_SLOT = int(Fault.BRANCH_IN_DELAY_SLOT)
F_OVERFLOW = int(Fault.OVERFLOW)
F_DIV_ZERO = int(Fault.DIVISION_BY_ZERO)
F_TRAP = int(Fault.TRAP)
F_SYSCALL = int(Fault.BAD_SYSCALL)

EXITED = int(Status.EXITED)
FAULTED = int(Status.FAULTED)
M32 = 0xFFFFFFFF
SYS_EXIT, SYS_EXIT_GROUP = 4001, 4246


# -- pure helpers (inlined by LLVM) ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _sx32(v):
    """Signed value of the unsigned 32-bit `v`."""
    return v - ((v & 0x80000000) << 1)


@njit(cache=True, inline="always")
def _sx16(v):
    return v - ((v & 0x8000) << 1)


@njit(cache=True, inline="always")
def _sx8(v):
    return v - ((v & 0x80) << 1)


@njit(cache=True)
def _count_leading_zeros(v):
    n = 0
    bit = 0x80000000
    while n < 32 and not (v & bit):
        n += 1
        bit >>= 1
    return n


@njit(cache=True, inline="always")
def _trunc_div(a, b):
    """C division of signed a by signed b != 0 (toward zero); int64 holds -2^31 / -1 exactly."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


@njit(cache=True, inline="always")
def _trap_special(funct, a, b):
    """Condition of the SPECIAL traps tge/tgeu/tlt/tltu/teq/tne (a, b unsigned 32-bit)."""
    if funct == 0x30:
        return _sx32(a) >= _sx32(b)
    if funct == 0x31:
        return a >= b
    if funct == 0x32:
        return _sx32(a) < _sx32(b)
    if funct == 0x33:
        return a < b
    if funct == 0x34:
        return a == b
    return a != b  # 0x36


@njit(cache=True, inline="always")
def _branch_taken(op, rt_field, a, b):
    """Condition of the conditional branches (op 1 by rt field, ops 4-7 and their likely forms)."""
    if op == 1:
        sign = a & 0x80000000
        return sign == 0 if rt_field & 1 else sign != 0  # bgez* : bltz*
    base = op & 0x7  # beq/bne/blez/bgtz and beql/bnel/blezl/bgtzl share the low bits
    if base == 4:
        return a == b
    if base == 5:
        return a != b
    if base == 6:
        return _sx32(a) <= 0
    return _sx32(a) > 0


@njit(cache=True, inline="always")
def _loaded_slot(table, ctl, page):
    """The pool slot of `page` (0: the zero page); -1 when memory holds it but it is not loaded yet (then
    ctl[MISSING_PAGE] names it)."""
    slot = table[page]
    if slot < 0:
        ctl[MISSING_PAGE] = page
    return slot


@njit(cache=True, inline="always")
def _word_at(table, ctl, pool, addr):
    """The aligned word holding `addr`; -1 when its page is not loaded yet (then ctl[MISSING_PAGE] names it)."""
    slot = _loaded_slot(table, ctl, addr >> 12)
    if slot < 0:
        return np.int64(-1)
    return np.int64(pool[slot, (addr >> 2) & 1023])


# -- the interpreter loop -------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)  # other threads (the daemons' event loops) run while a kernel runs
def _execute(regs, ctl, table, pool, slot_page, dirty, limit):  # noqa: C901 - one loop, one dispatch, on purpose
    """Runs up to `limit` steps; returns the number of steps executed and sets ctl[STOP] to why it stopped."""
    pc = ctl[PC]
    npc = ctl[NEXT_PC]
    lo = ctl[LO]
    hi = ctl[HI]
    used = ctl[SLOTS_USED]
    n_slots = pool.shape[0]
    steps = 0
    stop = STOP_LIMIT
    fault = 0
    ctl[MISSING_PAGE] = -1  # set by the step that touches a page not loaded yet, which then stops the loop
    while steps < limit:
        if pc & 3:
            fault = F_FETCH
            break
        insn = _word_at(table, ctl, pool, pc)
        if insn < 0:
            break
        op = insn >> 26
        rs = (insn >> 21) & 31
        rt = (insn >> 16) & 31
        a = regs[rs]
        b = regs[rt]
        new_pc = npc
        new_npc = npc + 4

        if op == 0:  # SPECIAL
            funct = insn & 63
            rd = (insn >> 11) & 31
            if funct == 0x00:
                regs[rd] = (b << ((insn >> 6) & 31)) & M32
            elif funct == 0x02:
                regs[rd] = b >> ((insn >> 6) & 31)
            elif funct == 0x03:
                regs[rd] = (_sx32(b) >> ((insn >> 6) & 31)) & M32
            elif funct == 0x04:
                regs[rd] = (b << (a & 31)) & M32
            elif funct == 0x06:
                regs[rd] = b >> (a & 31)
            elif funct == 0x07:
                regs[rd] = (_sx32(b) >> (a & 31)) & M32
            elif funct == 0x08 or funct == 0x09:  # jr, jalr
                if npc != ((pc + 4) & M32):
                    fault = F_DELAY_SLOT
                    break
                new_npc = a
                if funct == 0x09:
                    regs[rd] = (pc + 8) & M32
            elif funct == 0x0A:
                if b == 0:
                    regs[rd] = a
            elif funct == 0x0B:
                if b != 0:
                    regs[rd] = a
            elif funct == 0x0C:  # syscall
                v0 = regs[2]
                if v0 != SYS_EXIT and v0 != SYS_EXIT_GROUP:
                    fault = F_SYSCALL
                    break
                ctl[STATUS] = EXITED
                ctl[EXIT_CODE] = regs[4] & 0xFF
                pc = new_pc
                npc = new_npc & M32
                steps += 1
                stop = STOP_HALTED
                break
            elif funct == 0x0D:
                fault = F_TRAP
                break
            elif funct == 0x0F:
                pass
            elif funct == 0x10:
                regs[rd] = hi
            elif funct == 0x11:
                hi = a
            elif funct == 0x12:
                regs[rd] = lo
            elif funct == 0x13:
                lo = a
            elif funct == 0x18:
                p = _sx32(a) * _sx32(b)
                lo = p & M32
                hi = (p >> 32) & M32
            elif funct == 0x19:
                p = a * b  # < 2^64: wraps in int64, the low 64 bits are right
                lo = p & M32
                hi = (p >> 32) & M32
            elif funct == 0x1A:
                if b == 0:
                    fault = F_DIV_ZERO
                    break
                sa_, sb_ = _sx32(a), _sx32(b)
                q = _trunc_div(sa_, sb_)
                lo = q & M32
                hi = (sa_ - q * sb_) & M32
            elif funct == 0x1B:
                if b == 0:
                    fault = F_DIV_ZERO
                    break
                lo = a // b
                hi = a % b
            elif funct == 0x20:
                r = _sx32(a) + _sx32(b)
                if r < -0x80000000 or r > 0x7FFFFFFF:
                    fault = F_OVERFLOW
                    break
                regs[rd] = r & M32
            elif funct == 0x21:
                regs[rd] = (a + b) & M32
            elif funct == 0x22:
                r = _sx32(a) - _sx32(b)
                if r < -0x80000000 or r > 0x7FFFFFFF:
                    fault = F_OVERFLOW
                    break
                regs[rd] = r & M32
            elif funct == 0x23:
                regs[rd] = (a - b) & M32
            elif funct == 0x24:
                regs[rd] = a & b
            elif funct == 0x25:
                regs[rd] = a | b
            elif funct == 0x26:
                regs[rd] = a ^ b
            elif funct == 0x27:
                regs[rd] = ~(a | b) & M32
            elif funct == 0x2A:
                regs[rd] = 1 if _sx32(a) < _sx32(b) else 0
            elif funct == 0x2B:
                regs[rd] = 1 if a < b else 0
            elif funct == 0x30 or funct == 0x31 or funct == 0x32 or funct == 0x33 or funct == 0x34 or funct == 0x36:
                if _trap_special(funct, a, b):
                    fault = F_TRAP
                    break
            else:
                fault = F_INVALID
                break

        elif op == 0x09:  # addiu
            regs[rt] = (a + _sx16(insn & 0xFFFF)) & M32
        elif op == 0x20 or op == 0x24 or op == 0x21 or op == 0x25 or op == 0x23 or op == 0x30:  # loads
            addr = (a + _sx16(insn & 0xFFFF)) & M32
            if (op == 0x23 or op == 0x30) and addr & 3:
                fault = F_ACCESS
                break
            if (op == 0x21 or op == 0x25) and addr & 1:
                fault = F_ACCESS
                break
            w = _word_at(table, ctl, pool, addr)
            if w < 0:
                break
            shift = (addr & 3) << 3
            if op == 0x20:
                regs[rt] = _sx8((w >> shift) & 0xFF) & M32
            elif op == 0x24:
                regs[rt] = (w >> shift) & 0xFF
            elif op == 0x21:
                regs[rt] = _sx16((w >> shift) & 0xFFFF) & M32
            elif op == 0x25:
                regs[rt] = (w >> shift) & 0xFFFF
            else:
                regs[rt] = w
        elif op == 0x28 or op == 0x29 or op == 0x2B or op == 0x38 or op == 0x2A or op == 0x2E:  # stores
            addr = (a + _sx16(insn & 0xFFFF)) & M32
            if (op == 0x2B or op == 0x38) and addr & 3:
                fault = F_ACCESS
                break
            if op == 0x29 and addr & 1:
                fault = F_ACCESS
                break
            page = addr >> 12
            slot = _loaded_slot(table, ctl, page)
            if slot < 0:
                break
            if slot == 0:
                if used == n_slots:
                    stop = STOP_POOL_FULL
                    break
                slot = used
                used += 1
                table[page] = slot
                slot_page[slot] = page
            dirty[slot] = 1
            widx = (addr >> 2) & 1023
            w = np.int64(pool[slot, widx])
            shift = (addr & 3) << 3
            if op == 0x28:
                w = (w & ~(0xFF << shift)) | ((b & 0xFF) << shift)
            elif op == 0x29:
                w = (w & ~(0xFFFF << shift)) | ((b & 0xFFFF) << shift)
            elif op == 0x2A:  # swl
                s = 24 - shift
                w = (w & ~(M32 >> s)) | (b >> s)
            elif op == 0x2E:  # swr
                w = (w & ((1 << shift) - 1)) | (b << shift)
            else:
                w = b
            pool[slot, widx] = w & M32
            if op == 0x38:
                regs[rt] = 1
        elif op == 0x22 or op == 0x26:  # lwl, lwr
            addr = (a + _sx16(insn & 0xFFFF)) & M32
            w = _word_at(table, ctl, pool, addr)
            if w < 0:
                break
            shift = (addr & 3) << 3
            if op == 0x22:
                s = 24 - shift
                regs[rt] = ((w << s) & M32) | (b & ((1 << s) - 1))
            else:
                regs[rt] = (w >> shift) | (b & ~(M32 >> shift) & M32)
        elif op == 0x1C:  # SPECIAL2
            funct = insn & 63
            rd = (insn >> 11) & 31
            if funct == 0x02:
                regs[rd] = (a * b) & M32
            elif funct == 0x00 or funct == 0x01 or funct == 0x04 or funct == 0x05:
                if funct & 1:
                    p = a * b
                else:
                    p = _sx32(a) * _sx32(b)
                acc = (hi << 32) | lo
                acc = acc - p if funct & 4 else acc + p
                lo = acc & M32
                hi = (acc >> 32) & M32
            elif funct == 0x20:
                regs[rd] = _count_leading_zeros(a)
            elif funct == 0x21:
                regs[rd] = _count_leading_zeros(~a & M32)
            else:
                fault = F_INVALID
                break
        elif op == 0x01:  # REGIMM
            if rt == 0x00 or rt == 0x01 or rt == 0x02 or rt == 0x03 or rt == 0x10 or rt == 0x11 \
                    or rt == 0x12 or rt == 0x13:
                if npc != ((pc + 4) & M32):
                    fault = F_DELAY_SLOT
                    break
                taken = _branch_taken(op, rt, a, 0)
                if rt & 0x10:
                    regs[31] = (pc + 8) & M32
                if taken:
                    new_npc = (pc + 4 + (_sx16(insn & 0xFFFF) << 2)) & M32
                elif rt & 2:  # likely, not taken: skip the delay slot
                    new_pc = npc + 4
                    new_npc = npc + 8
            elif rt == 0x08 or rt == 0x09 or rt == 0x0A or rt == 0x0B or rt == 0x0C or rt == 0x0E:
                imm = _sx16(insn & 0xFFFF) & M32
                if _trap_special(rt + 0x28, a, imm):  # REGIMM trap rt 0x08.. maps onto SPECIAL funct 0x30..
                    fault = F_TRAP
                    break
            else:
                fault = F_INVALID
                break
        elif (op >= 0x04 and op <= 0x07) or (op >= 0x14 and op <= 0x17):  # beq..bgtz, beql..bgtzl
            if npc != ((pc + 4) & M32):
                fault = F_DELAY_SLOT
                break
            if _branch_taken(op, 0, a, b):
                new_npc = (pc + 4 + (_sx16(insn & 0xFFFF) << 2)) & M32
            elif op >= 0x14:
                new_pc = npc + 4
                new_npc = npc + 8
        elif op == 0x02 or op == 0x03:  # j, jal
            if npc != ((pc + 4) & M32):
                fault = F_DELAY_SLOT
                break
            new_npc = ((pc + 4) & 0xF0000000) | ((insn & 0x3FFFFFF) << 2)
            if op == 0x03:
                regs[31] = (pc + 8) & M32
        elif op == 0x08:  # addi
            r = _sx32(a) + _sx16(insn & 0xFFFF)
            if r < -0x80000000 or r > 0x7FFFFFFF:
                fault = F_OVERFLOW
                break
            regs[rt] = r & M32
        elif op == 0x0A:
            regs[rt] = 1 if _sx32(a) < _sx16(insn & 0xFFFF) else 0
        elif op == 0x0B:
            regs[rt] = 1 if a < (_sx16(insn & 0xFFFF) & M32) else 0
        elif op == 0x0C:
            regs[rt] = a & (insn & 0xFFFF)
        elif op == 0x0D:
            regs[rt] = a | (insn & 0xFFFF)
        elif op == 0x0E:
            regs[rt] = a ^ (insn & 0xFFFF)
        elif op == 0x0F:
            regs[rt] = (insn & 0xFFFF) << 16
        elif op == 0x33:  # pref
            pass
        else:
            fault = F_INVALID
            break

        regs[0] = 0
        pc = new_pc & M32
        npc = new_npc & M32
        steps += 1

    if ctl[MISSING_PAGE] >= 0:
        stop = STOP_PAGE_MISSING
    if fault != 0:  # every fault is detected before the instruction changes anything
        ctl[STATUS] = FAULTED
        ctl[EXIT_CODE] = fault
        steps += 1
        stop = STOP_HALTED
    ctl[PC] = pc
    ctl[NEXT_PC] = npc
    ctl[LO] = lo
    ctl[HI] = hi
    ctl[SLOTS_USED] = used
    ctl[STOP] = stop
    return steps


# -- Python side: loading a state into the image and writing it back --------------------------------------------


class FastExecutorError(ValueError):
    """Bad arguments to the fast executor."""


class FastMachine:
    """A VMState loaded into the compiled executor's arrays; runs in steps and writes results back on demand.

    Pages are copied from the state's memory into the pool on first touch (the loop stops before a step that
    touches a page not loaded yet, Python loads it and resumes), so a run over a memory holding tens of MB of
    input pays only for the pages it reads. `sync_to(state)` makes `state` equal to the machine (registers,
    control fields, and every page written since the last sync via `Memory.set_page`); the memory the machine
    was made from must not change otherwise while it runs.
    """

    def __init__(self, state: VMState, table: np.ndarray | None = None) -> None:
        """`table`: an all-zero page table to fill in (reused across runs: allocating 4 MiB per run cost more
        than a short kernel's run; `clear_table` makes it all zero again); a fresh one when None."""
        self._memory = state.memory
        self.regs = np.array(state.regs, dtype=np.int64)
        self.ctl = np.zeros(CTL_SIZE, dtype=np.int64)
        self.ctl[[PC, NEXT_PC, LO, HI, STATUS, EXIT_CODE]] = (
            state.pc, state.next_pc, state.lo, state.hi, int(state.status), state.exit_code)
        self.step = state.step
        self.table = np.zeros(PAGE_COUNT, dtype=np.int32) if table is None else table
        self._known = state.memory.page_indices()
        self.table[self._known] = NOT_LOADED
        n_slots = 65  # slot 0 + room for 64 pages; grows by doubling
        self.pool = np.zeros((n_slots, PAGE_WORDS), dtype=np.uint32)
        self.slot_page = np.zeros(n_slots, dtype=np.int32)
        self.dirty = np.zeros(n_slots, dtype=np.uint8)
        self.ctl[SLOTS_USED] = 1  # slot 0 stays the shared zero page

    @property
    def running(self) -> bool:
        return self.ctl[STATUS] == Status.RUNNING

    def run(self, max_steps: int | None = None) -> int:
        """Executes until the machine halts or `max_steps` steps ran; returns the number of steps executed."""
        if max_steps is not None and max_steps < 0:
            raise FastExecutorError(f"max_steps must be >= 0, got {max_steps}")
        limit = UNLIMITED if max_steps is None else max_steps
        done = 0
        while self.running and done < limit:
            done += _execute(self.regs, self.ctl, self.table, self.pool, self.slot_page, self.dirty, limit - done)
            if self.ctl[STOP] == STOP_POOL_FULL:
                self._grow()
            elif self.ctl[STOP] == STOP_PAGE_MISSING:
                self._load(int(self.ctl[MISSING_PAGE]))
        self.step = (self.step + done) & U64
        return done

    def _load(self, page: int) -> None:
        """Copies memory page `page` into a fresh slot of the pool."""
        slot = int(self.ctl[SLOTS_USED])
        if slot == self.pool.shape[0]:
            self._grow()
        self.pool[slot] = np.frombuffer(self._memory.page_view(page), dtype="<u4")
        self.table[page] = slot
        self.slot_page[slot] = page
        self.ctl[SLOTS_USED] = slot + 1

    def _grow(self) -> None:
        extra = self.pool.shape[0]
        self.pool = np.concatenate((self.pool, np.zeros((extra, PAGE_WORDS), dtype=np.uint32)))
        self.slot_page = np.concatenate((self.slot_page, np.zeros(extra, dtype=np.int32)))
        self.dirty = np.concatenate((self.dirty, np.zeros(extra, dtype=np.uint8)))

    def rewind(self, state: VMState) -> None:
        """Makes the machine `state` again — the state it was made from, unchanged since: its registers and
        control fields, and every page written since it was made or last rewound restored from `state`'s memory
        (loaded pages stay loaded, so a run that follows reads them without stopping)."""
        self.regs[:] = state.regs
        self.ctl[[PC, NEXT_PC, LO, HI, STATUS, EXIT_CODE]] = (
            state.pc, state.next_pc, state.lo, state.hi, int(state.status), state.exit_code)
        self.step = state.step
        for slot in np.flatnonzero(self.dirty[: self.ctl[SLOTS_USED]]):
            page = int(self.slot_page[slot])
            if page in self._known_set:
                self.pool[slot] = np.frombuffer(self._memory.page_view(page), dtype="<u4")
            else:
                self.pool[slot] = 0  # a page the state never held: all zero, as its slot began
        self.dirty[:] = 0

    @cached_property
    def _known_set(self) -> frozenset[int]:
        return frozenset(self._known)

    def read_bytes(self, addr: int, length: int) -> bytes:
        """`length` bytes of the machine's memory at `addr`, as the runs so far left them."""
        out = bytearray()
        while len(out) < length:
            page, offset = addr >> PAGE_SHIFT, addr & (PAGE_SIZE - 1)
            take = min(length - len(out), PAGE_SIZE - offset)
            slot = int(self.table[page])
            if slot < 0:
                out += self._memory.page_view(page)[offset:offset + take]
            else:
                out += self.pool[slot].view(np.uint8)[offset:offset + take].tobytes()
            addr += take
        return bytes(out)

    def write_bytes(self, addr: int, data: bytes) -> None:
        """Writes `data` at `addr` into the machine's memory, as stores would (the pages count as written)."""
        done = 0
        while done < len(data):
            page, offset = addr >> PAGE_SHIFT, addr & (PAGE_SIZE - 1)
            take = min(len(data) - done, PAGE_SIZE - offset)
            slot = self._slot_for_write(page)
            self.pool[slot].view(np.uint8)[offset:offset + take] = np.frombuffer(data[done:done + take], np.uint8)
            self.dirty[slot] = 1
            addr, done = addr + take, done + take

    def _slot_for_write(self, page: int) -> int:
        """The pool slot of `page`, loading it (or giving an absent page a zero slot) first."""
        if self.table[page] < 0:
            self._load(page)
        elif self.table[page] == 0:
            slot = int(self.ctl[SLOTS_USED])
            if slot == self.pool.shape[0]:
                self._grow()
            self.pool[slot] = 0
            self.table[page] = slot
            self.slot_page[slot] = page
            self.ctl[SLOTS_USED] = slot + 1
        return int(self.table[page])

    def clear_table(self) -> np.ndarray:
        """The page table, all zero again (every page this machine marked or loaded), for the next run."""
        self.table[self._known] = 0
        self.table[self.slot_page[1:self.ctl[SLOTS_USED]]] = 0
        return self.table

    def sync_to(self, state: VMState) -> None:
        """Writes the machine's registers, control fields and changed pages into `state`."""
        state.pc, state.next_pc, state.lo, state.hi = (int(v) for v in self.ctl[[PC, NEXT_PC, LO, HI]])
        state.status = Status(int(self.ctl[STATUS]))
        state.exit_code = int(self.ctl[EXIT_CODE])
        state.step = self.step
        state.regs[:] = [int(v) for v in self.regs]
        for slot in np.flatnonzero(self.dirty[: self.ctl[SLOTS_USED]]):
            state.memory.set_page(int(self.slot_page[slot]), self.pool[slot].tobytes())
        self.dirty[:] = 0


def run_fast(state: VMState, max_steps: int | None = None) -> int:
    """Runs `state` in place like `opml.vm.interp.run`: until it exits or faults, or `max_steps` steps ran.

    Returns the number of steps executed (0 for a halted state). Registers, control fields and changed memory
    pages are written back into `state` (its Merkle root is recomputed lazily by `Memory`).
    """
    if max_steps is not None and max_steps < 0:
        raise FastExecutorError(f"max_steps must be >= 0, got {max_steps}")
    if not state.running or max_steps == 0:
        return 0
    with fast_machine(state) as machine:
        done = machine.run(max_steps)
        machine.sync_to(state)
    return done


@contextmanager
def fast_machine(state: VMState, make: Callable[[VMState, np.ndarray | None], FastMachine] = FastMachine,
                 ) -> Iterator[FastMachine]:
    """A FastMachine (or what `make(state, table)` builds) on `state` for the block, on this thread's spare page
    table (allocating 4 MiB per run cost more than a short kernel's run); the table is cleared and kept for the
    next run when the block ends."""
    table = getattr(_spare, "table", None)
    _spare.table = None  # a nested machine (none today) allocates its own
    machine = make(state, table)
    try:
        yield machine
    finally:
        _spare.table = machine.clear_table()


_spare = threading.local()  # each thread's page table for `run_fast`
