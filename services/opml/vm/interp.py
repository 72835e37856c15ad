"""The reference interpreter: executes docs/vm.md one instruction at a time and produces step witnesses.

Speed comes from caching: each pc is decoded once per run into a closure specialised to its operands (see
`opml.vm.isa`); a store to a word drops its cached decoding. Memory is only hashed when a root is asked for.
"""

from __future__ import annotations

from opml.vm.isa import M, Exit, Fields, Halt, Handler, Nullify, decode
from opml.vm.state import U64, Fault, Status, VMState
from opml.vm.witness import Witness, build_witness

UNLIMITED = 1 << 62


class Machine:
    """What the instruction closures of one run share: registers, hi/lo, memory page dicts, decoded code."""

    __slots__ = ("r", "hl", "pages", "words", "hot", "writable", "code")

    def __init__(self, state: VMState) -> None:
        self.r = list(state.regs) + [0]  # slot 32 swallows writes to $0
        self.hl = [state.hi, state.lo]
        memory = state.memory
        self.pages = memory._pages
        self.words = memory._words
        self.hot = memory._hot
        self.writable = memory._writable
        self.code: dict[int, Handler] = {}

    def decode_at(self, pc: int) -> Handler:
        """The executor of the instruction at `pc` (pc < 2^32), decoded now and cached."""
        if pc & 3:
            raise Halt(Fault.UNALIGNED_FETCH)
        view = self.words.get(pc >> 12)
        word = view[(pc & 0xFFF) >> 2] if view is not None else 0
        insn = decode(word)
        handler = insn.make(self, Fields(word, pc)) if insn is not None else _invalid
        self.code[pc] = handler
        return handler


def _invalid(npc: int) -> int:
    raise Halt(Fault.INVALID_INSTRUCTION)


def run(state: VMState, max_steps: int | None = None) -> int:
    """Execute until the state exits or faults, or `max_steps` steps ran; returns the steps executed.

    A state that is not running is left unchanged (0 steps).
    """
    limit = UNLIMITED if max_steps is None else max_steps
    if state.status != Status.RUNNING or limit <= 0:
        return 0
    m = Machine(state)
    code = m.code
    pc, npc, done = state.pc, state.next_pc, 0
    try:
        for done in range(limit):  # noqa: B007 - `done` counts the steps before the one that raises
            h = code.get(pc)
            if h is None:
                pc &= M  # a sequential nextPC is reduced mod 2^32 only here, when it has become pc
                npc &= M
                h = code.get(pc) or m.decode_at(pc)
            try:
                npc, pc = h(npc), npc
            except Nullify:
                pc, npc = npc + 4, npc + 8
        done = limit
    except Halt as halt:
        done += 1
        state.status, state.exit_code = Status.FAULTED, int(halt.code)
    except Exit as exit_:
        done += 1
        pc, npc = npc, npc + 4
        state.status, state.exit_code = Status.EXITED, exit_.code
    finally:
        _write_back(m, state, pc, npc, done)
    return done


def _write_back(m: Machine, state: VMState, pc: int, npc: int, done: int) -> None:
    state.regs[:] = m.r[:32]
    state.hi, state.lo = m.hl
    state.pc, state.next_pc = pc & M, npc & M
    state.step = (state.step + done) & U64


def step(state: VMState, witness: bool = False) -> Witness | None:
    """Execute one step in place; with `witness=True` return the pre-state and the proofs the contract needs."""
    proof = build_witness(state) if witness else None
    run(state, 1)
    return proof
