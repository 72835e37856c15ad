"""The on-chain `MIPS` step (contracts/MIPS.sol) against the Python reference interpreter (opml.vm.interp).

Every case steps a state with the interpreter and checks that the contract, given the interpreter's witness,
returns the same post-state hash: one case per instruction of docs/vm.md (and per fault), random states and
instructions (hypothesis), forged witnesses (each rejected with its named error), and a real kernel.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opml.chain.tx import ContractRevert
from opml.hashing import keccak
from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import interp, layout
from opml.vm.elf import load_elf
from opml.vm.isa import Fields
from opml.vm.memory import ZERO_HASHES
from opml.vm.state import U64, Fault, Status, VMState
from opml.vm.witness import build_witness, split_proofs
from differential.mips_onchain import OnChainMips, check_steps
from unit import mips_asm as asm
from unit.vm_programs import PROGRAMS, build_program
from unit.mips_asm import (A0, A1, RA, S0, S1, S2, S3, S4, S5, S6, T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, V0,
                           ZERO)

CODE = layout.CODE.base
DATA = layout.SCRATCH.base + 0x100  # S0 points here; the 96 bytes around it hold known data
DATA_BYTES = bytes((37 * i + 11) & 0xFF for i in range(96))

BASE_REGS = {
    T0: 0x8000_0000, T1: 0xFFFF_FFFF, T2: 7, T3: 0xFFFF_FFFD, T4: 0x7FFF_FFFF, T5: 0x1234_5678, T6: 0, T7: 1,
    S0: DATA, S1: DATA + 1, S2: DATA + 2, S3: DATA + 3, S4: 0xDEAD_BEEF, S5: 36, S6: CODE + 8,
    A0: 0x1234, A1: 0xFFFF_8000, RA: 0xCAFE_BABE, T9: CODE + 0x40,
}
HI, LO = 0x0123_4567, 0x89AB_CDEF


@pytest.fixture(scope="module")
def chain(w3, mips) -> OnChainMips:
    return OnChainMips(w3, mips)


def make_state(words: list[int], regs: dict[int, int] | None = None, *, pc: int = CODE,
               next_pc: int | None = None, step: int = 41) -> VMState:
    """A running state with `words` at `pc`, the BASE_REGS (updated by `regs`), hi/lo and DATA_BYTES."""
    state = VMState()
    for reg, value in {**BASE_REGS, **(regs or {})}.items():
        state.regs[reg] = value
    state.hi, state.lo, state.step = HI, LO, step
    state.pc, state.next_pc = pc, (pc + 4) & 0xFFFF_FFFF if next_pc is None else next_pc
    state.memory.write_bytes(DATA - 32, DATA_BYTES)
    for i, word in enumerate(words):
        state.memory.write_word((pc & ~3) + 4 * i, word)
    return state


# ---------------------------------------------------------------------------------------------------------------
# One case per instruction (and per outcome that has its own path)

RUNNING = (Status.RUNNING, 0)


def fault(code: Fault) -> tuple[Status, int]:
    return (Status.FAULTED, int(code))


@dataclass
class Case:
    label: str  # starts with the mnemonic it covers
    words: list[int]
    expect: tuple[Status, int] = RUNNING
    regs: dict[int, int] = field(default_factory=dict)
    steps: int | None = None  # default: one step per word
    pc: int = CODE
    next_pc: int | None = None


def _branch(word: int, expect=RUNNING, **kw) -> Case:
    """A branch at CODE, its delay slot, a skipped word and the target (offset 2 → CODE + 12)."""
    words = [word, asm.addiu(T8, T8, 1), asm.addiu(T8, T8, 0x10), asm.addiu(T8, T8, 0x100)]
    return Case(kw.pop("label"), words, expect, steps=3, **kw)


# Conditional traps, each with its immediate form: mnemonic -> (operands that trap, operands that pass).
TRAPS = {
    "tge": ((T2, T3), (T3, T2)), "tgei": ((T2, -5), (T3, 0)),
    "tgeu": ((T3, T2), (T2, T3)), "tgeiu": ((T1, -1), (T2, -1)),
    "tlt": ((T3, T2), (T2, T3)), "tlti": ((T3, 0), (T2, 7)),
    "tltu": ((T2, T3), (T3, T2)), "tltiu": ((T2, -1), (T1, -2)),
    "teq": ((T2, T2), (T2, T3)), "teqi": ((T3, -3), (T3, 3)),
    "tne": ((T2, T3), (T2, T2)), "tnei": ((T2, 8), (T2, 7)),
}

# Conditional branches to offset 2, each with its likely form (which, not taken, skips the delay slot; the `al`
# forms link whether or not taken): mnemonic -> (operands that take the branch, operands that do not).
BRANCHES = {
    "beq": ((T2, T2), (T2, T3)), "beql": ((T2, T2), (T2, T3)),
    "bne": ((T2, T3), (T2, T2)), "bnel": ((T2, T3), (T2, T2)),
    "blez": ((T0,), (T2,)), "blezl": ((T0,), (T2,)),
    "bgtz": ((T2,), (T6,)), "bgtzl": ((T2,), (T0,)),
    "bltz": ((T0,), (T2,)), "bltzl": ((T3,), (T2,)),
    "bgez": ((T6,), (T3,)), "bgezl": ((T2,), (T0,)),
    "bltzal": ((T0,), (T2,)), "bltzall": ((T0,), (T2,)),
    "bgezal": ((T2,), (T0,)), "bgezall": ((T6,), (T3,)),
}


def _trap_cases() -> list[Case]:
    return [case for name, (traps, passes) in TRAPS.items() for case in (
        Case(f"{name} traps", [asm.INSTRUCTIONS[name](*traps)], fault(Fault.TRAP)),
        Case(f"{name} passes", [asm.INSTRUCTIONS[name](*passes)]),
    )]


def _branch_cases() -> list[Case]:
    return [_branch(asm.INSTRUCTIONS[name](*operands, 2), label=f"{name} {outcome}")
            for name, (taken, not_taken) in BRANCHES.items()
            for outcome, operands in (("taken", taken), ("not taken", not_taken))]


# One instruction that runs on the BASE_REGS: label (the mnemonic first) -> operands in assembler order.
RUNS = {
    # SPECIAL: shifts, conditional moves, hi/lo, arithmetic and logic
    "sll": (T8, T5, 4), "sll nop": (ZERO, ZERO, 0), "srl": (T8, T0, 31),
    "sra negative": (T8, T0, 4), "sra positive": (T8, T4, 31),
    "sllv amount mod 32": (T8, T5, S5), "srlv": (T8, T1, S5), "srav": (T8, T0, S5),
    "movz moves": (T8, T5, T6), "movz keeps": (T8, T5, T7), "movn moves": (T8, T5, T7), "movn keeps": (T8, T5, T6),
    "sync": (), "mfhi": (T8,), "mthi": (T5,), "mflo": (T8,), "mtlo": (T5,),
    "mult negative": (T0, T3), "mult": (T5, T4), "multu": (T1, T1),
    "div": (T5, T3), "div negative dividend": (T3, T2), "div most negative by -1": (T0, T1), "divu": (T1, T2),
    "add": (T8, T2, T3), "addu wraps": (T8, T4, T7),
    "sub": (T8, T2, T3), "sub minus one minus most negative": (T8, T1, T0), "subu wraps": (T8, T6, T7),
    "and": (T8, T5, S4), "or": (T8, T5, S4), "xor": (T8, T5, S4), "nor": (T8, T5, S4),
    "slt true": (T8, T0, T2), "slt false": (T8, T2, T0), "sltu": (T8, T0, T2),
    # SPECIAL2
    "madd": (T0, T3), "maddu": (T1, T1), "mul": (T8, T5, T3), "msub": (T5, T3), "msubu": (T1, T1),
    "clz": (T8, T5), "clz zero": (T8, T6), "clz top bit": (T8, T0),
    "clo": (T8, T1), "clo none": (T8, T5), "clo three": (T8, T3),
    # Immediates
    "addi": (T8, T2, -100), "addiu": (T8, T4, 1), "addiu to zero register is discarded": (ZERO, T2, 5),
    "slti": (T8, T3, -2), "sltiu sign-extended immediate": (T8, T2, -1),
    "andi zero-extends": (T8, T1, 0x8001), "ori": (T8, T5, 0xF00F), "xori": (T8, T5, 0xFFFF), "lui": (T8, 0x8765),
    # Loads (the stores below are each followed by a load of what they wrote)
    "lb sign-extends": (T8, 3, S0), "lb to zero register": (ZERO, 0, S0), "lbu": (T8, -7, S0),
    "lh": (T8, 2, S0), "lhu": (T8, -30, S0),
    "lw": (T8, 4, S0), "lw untouched memory": (T8, 0, A1), "lw last word of memory": (T8, -4, T6), "ll": (T8, 8, S0),
    **{f"lwl offset {b}": (T5, b, S0) for b in range(4)},
    **{f"lwr offset {b}": (T5, b, S0) for b in range(4)},
    "pref touches no memory": (0, 0, S1),
}


def _run(label: str, operands: tuple[int, ...]) -> Case:
    return Case(label, [asm.INSTRUCTIONS[label.split()[0]](*operands)])


CASES = [
    *(_run(label, operands) for label, operands in RUNS.items()),
    # Arithmetic faults
    Case("div by zero", [asm.div(T5, T6)], fault(Fault.DIVISION_BY_ZERO)),
    Case("divu by zero", [asm.divu(T5, ZERO)], fault(Fault.DIVISION_BY_ZERO)),
    Case("add overflow", [asm.add(T8, T4, T7)], fault(Fault.OVERFLOW)),
    Case("add negative overflow", [asm.add(T8, T0, T1)], fault(Fault.OVERFLOW)),
    Case("sub overflow", [asm.sub(T8, T0, T7)], fault(Fault.OVERFLOW)),
    Case("sub overflow zero minus most negative", [asm.sub(T8, T6, T0)], fault(Fault.OVERFLOW)),
    Case("addi overflow", [asm.addi(T8, T4, 1)], fault(Fault.OVERFLOW)),
    Case("addi negative overflow", [asm.addi(T8, T0, -1)], fault(Fault.OVERFLOW)),
    # Traps and syscalls
    *_trap_cases(),
    Case("syscall exit", [asm.syscall()], (Status.EXITED, 0x34), regs={V0: 4001}),
    Case("syscall exit_group", [asm.syscall()], (Status.EXITED, 0xBE), regs={V0: 4246, A0: 0xCAFE_BABE}),
    Case("syscall bad number", [asm.syscall()], fault(Fault.BAD_SYSCALL), regs={V0: 4000}),
    Case("syscall exit in a delay slot", [asm.beq(ZERO, ZERO, 4), asm.syscall()], (Status.EXITED, 0x34),
         regs={V0: 4001}),
    Case("break", [asm.break_(5)], fault(Fault.TRAP)),
    # Branches and jumps
    *_branch_cases(),
    _branch(asm.bltzal(RA, 2), label="bltzal ra compares the old ra"),
    Case("j", [asm.j(CODE + 0x80), asm.addiu(T8, T8, 1)], steps=3),
    Case("jal", [asm.jal(CODE + 0x80), asm.addiu(T8, T8, 1)], steps=3),
    Case("jr", [asm.jr(T9), asm.addiu(T8, T8, 1)], steps=3),
    Case("jalr", [asm.jalr(RA, T9), asm.addiu(T8, T8, 1)], steps=3),
    Case("jalr same register reads the target first", [asm.jalr(T9, T9)], steps=2),
    Case("jalr to zero register", [asm.jalr(ZERO, T9)], steps=2),
    Case("jr unaligned target faults on fetch", [asm.jr(S1), asm.nop()], fault(Fault.UNALIGNED_FETCH), steps=3),
    _branch(asm.blez(T6, 2), label="blez zero taken"),
    _branch(asm.beq(T2, T2, -1), label="beq backwards"),
    Case("branch in a delay slot", [asm.beq(ZERO, ZERO, 4), asm.bne(T2, T3, 4)],
         fault(Fault.BRANCH_IN_DELAY_SLOT)),
    Case("jump in a delay slot", [asm.j(CODE + 0x80), asm.jr(T9)], fault(Fault.BRANCH_IN_DELAY_SLOT)),
    Case("link in a delay slot faults before linking", [asm.jr(T9), asm.jal(CODE)],
         fault(Fault.BRANCH_IN_DELAY_SLOT)),
    # Loads and stores
    Case("lh unaligned", [asm.lh(T8, 0, S1)], fault(Fault.UNALIGNED_ACCESS)),
    Case("lhu unaligned", [asm.lhu(T8, 0, S3)], fault(Fault.UNALIGNED_ACCESS)),
    Case("lw unaligned", [asm.lw(T8, 0, S2)], fault(Fault.UNALIGNED_ACCESS)),
    Case("ll unaligned", [asm.ll(T8, 0, S3)], fault(Fault.UNALIGNED_ACCESS)),
    Case("lwr+lwl unaligned word", [asm.lwr(T8, 0, S1), asm.lwl(T8, 3, S1)]),
    Case("sb", [asm.sb(T5, 1, S0), asm.lw(T8, 0, S0)]),
    Case("sh", [asm.sh(T5, 2, S0), asm.lw(T8, 0, S0)]),
    Case("sh unaligned", [asm.sh(T5, 0, S1)], fault(Fault.UNALIGNED_ACCESS)),
    Case("sw", [asm.sw(T5, 0, S0), asm.lw(T8, 0, S0)]),
    Case("sw unaligned", [asm.sw(T5, 0, S1)], fault(Fault.UNALIGNED_ACCESS)),
    Case("sw untouched memory", [asm.sw(T5, 0x40, A1), asm.lw(T8, 0x40, A1)]),
    Case("sw last word of memory", [asm.sw(S4, -4, T6), asm.lw(T8, -4, T6)]),
    Case("sw into the code it runs", [asm.sw(T6, 0, S6), asm.nop(), asm.addiu(T8, T8, 1)]),
    Case("sc", [asm.sc(T5, 4, S0), asm.lw(T8, 4, S0)]),
    Case("sc unaligned", [asm.sc(T5, 0, S2)], fault(Fault.UNALIGNED_ACCESS)),
    *[Case(f"swl offset {b}", [asm.swl(T5, b, S0), asm.lw(T8, 0, S0)]) for b in range(4)],
    *[Case(f"swr offset {b}", [asm.swr(T5, b, S0), asm.lw(T8, 0, S0)]) for b in range(4)],
    Case("swr+swl unaligned word", [asm.swr(T5, 0, S3), asm.swl(T5, 3, S3), asm.lw(T8, 0, S0)]),
    # Invalid instructions
    Case("invalid cop0", [0x4000_0000], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid lwc1", [asm.i_type(0x31, S0, T8, 0)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid op 0x27", [asm.i_type(0x27, S0, T8, 0)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid op 0x3f", [0xFFFF_FFFF], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid special funct 0x01", [asm.r_type(0x01, T2, T3, T8)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid special funct 0x35", [asm.r_type(0x35, T2, T3)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid special funct 0x14", [asm.r_type(0x14, T2, T3)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid regimm 0x04", [asm.regimm(0x04, T2, 2)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid regimm 0x0d", [asm.regimm(0x0D, T2, 2)], fault(Fault.INVALID_INSTRUCTION)),
    Case("invalid special2 0x03", [asm.special2(0x03, T2, T3, T8)], fault(Fault.INVALID_INSTRUCTION)),
    # Whole-state edges
    Case("unaligned fetch", [asm.nop()], fault(Fault.UNALIGNED_FETCH), pc=CODE + 2),
    Case("delay-slot state runs the slot then jumps", [asm.addiu(T8, T2, 1)], steps=2, next_pc=CODE + 0x40),
    Case("pc wraps around the address space", [asm.addiu(T8, T2, 1)], steps=1, pc=0xFFFF_FFFC),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_instruction(chain: OnChainMips, case: Case) -> None:
    state = make_state(case.words, case.regs, pc=case.pc, next_pc=case.next_pc)
    check_steps(chain, state, case.steps or len(case.words), label=case.label)
    assert (state.status, state.exit_code) == case.expect, f"{case.label}: Python VM ended in {state}"


def test_every_instruction_has_a_case() -> None:
    covered = {case.label.split()[0].split("+")[0] for case in CASES}
    missing = set(asm.INSTRUCTIONS) - covered
    assert not missing, f"no differential case for {sorted(missing)}"


@pytest.mark.parametrize("status,code", [(Status.EXITED, 3), (Status.FAULTED, int(Fault.TRAP))])
def test_step_on_a_halted_state_returns_it_unchanged(chain: OnChainMips, status: Status, code: int) -> None:
    state = make_state([asm.addiu(T8, T2, 1)])
    state.status, state.exit_code = status, code
    before = state.hash()
    check_steps(chain, state, 2, label=status.name)
    assert state.hash() == before


def test_step_counter_is_64_bits_and_wraps(chain: OnChainMips) -> None:
    state = make_state([asm.nop(), asm.nop()], step=0xFFFF_FFFF)
    check_steps(chain, state, 1, label="step 2^32-1")
    assert state.step == 1 << 32
    state.step = U64
    check_steps(chain, state, 1, label="step 2^64-1")
    assert state.step == 0


# ---------------------------------------------------------------------------------------------------------------
# Random states and instructions

# Hypothesis draws a seed (derandomized, so every run checks the same states; a failure prints its seed) and a
# numpy generator builds the state from it: uniform over the instruction set, unlike hypothesis' own draws,
# which favour the first mnemonics and small operands.
MNEMONICS = sorted(asm.INSTRUCTIONS)
EDGES = (0, 1, 2, 3, 4, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFC, 0x8000, 0xFFFF, 4001, 4246)
WINDOW = 64  # random instruction words written before and after pc


def _register_value(rng: np.random.Generator) -> int:
    roll = rng.random()
    if roll < 0.4:
        return int(rng.integers(0, 1 << 32))
    if roll < 0.6:
        return int(rng.choice(EDGES))
    if roll < 0.8:
        return DATA + int(rng.integers(-96, 97))  # pointers near the data
    return CODE + int(rng.integers(0, 0x400))  # pointers into the code


def _operand(rng: np.random.Generator, name: str, memory: bool) -> int:
    if name in ("rd", "rs", "rt", "base", "sa", "stype", "hint"):
        return int(rng.integers(0, 32))
    if name == "code":
        return int(rng.integers(0, 0x400))
    if name == "target":
        return CODE + 4 * int(rng.integers(0, 0x100))
    if name == "off" and memory:
        return int(rng.integers(-64, 65)) if rng.random() < 0.8 else int(rng.integers(-0x8000, 0x8000))
    if name in ("off", "imm"):
        return int(rng.integers(-8, 9)) if rng.random() < 0.5 else int(rng.integers(-0x8000, 0x10000))
    raise AssertionError(f"no operand generator for {name}")


def random_instruction(rng: np.random.Generator) -> int:
    """A word from the set with random operands, or (1 in 10) any 32-bit word."""
    if rng.random() < 0.1:
        return int(rng.integers(0, 1 << 32))
    encoder = asm.INSTRUCTIONS[MNEMONICS[int(rng.integers(0, len(MNEMONICS)))]]
    params = inspect.signature(encoder).parameters
    return encoder(*(_operand(rng, p, "base" in params) for p in params))


def _aim(rng: np.random.Generator, state: VMState, word: int) -> None:
    """Make the registers a load/store or jr/jalr reads point somewhere useful most of the time."""
    f = Fields(word)
    if 0x20 <= f.op <= 0x38 and f.rs and rng.random() < 0.6:
        state.regs[f.rs] = (DATA + 4 * int(rng.integers(-16, 17)) - f.simm) & 0xFFFF_FFFF
    elif f.op == 0 and f.funct in (0x08, 0x09) and f.rs and rng.random() < 0.8:
        state.regs[f.rs] = CODE + 4 * int(rng.integers(0, 0x100))


def random_state(seed: int) -> VMState:
    """A running state: random registers, hi/lo, step; pc in the code region (rarely unaligned), nextPC
    usually pc + 4 (else a delay-slot state); random instructions around pc; random bytes at every address the
    instructions at pc would access with the initial registers, and around DATA."""
    rng = np.random.default_rng(seed)
    state = VMState()
    state.regs[1:] = [_register_value(rng) for _ in range(31)]
    state.hi, state.lo = (int(x) for x in rng.integers(0, 1 << 32, size=2))
    state.step = int(rng.integers(0, 1 << 64, dtype=np.uint64)) if rng.random() < 0.9 else U64
    state.pc = CODE + 4 * int(rng.integers(WINDOW, 0x400)) + (2 if rng.random() < 0.03 else 0)
    roll = rng.random()
    state.next_pc = (state.pc + 4 if roll < 0.75 else CODE + 4 * int(rng.integers(0, 0x400)) if roll < 0.97
                     else _register_value(rng))
    words = [random_instruction(rng) for _ in range(2 * WINDOW)]
    for word in words[WINDOW:WINDOW + 3]:
        _aim(rng, state, word)
    state.memory.write_bytes(DATA - 64, rng.bytes(128))
    for word in words[WINDOW:WINDOW + 3]:
        f = Fields(word)
        if 0x20 <= f.op <= 0x38:
            state.memory.write_bytes((state.regs[f.rs] + f.simm) & 0xFFFF_FFE0, rng.bytes(32))
    base = (state.pc & ~3) - 4 * WINDOW
    for i, word in enumerate(words):
        state.memory.write_word(base + 4 * i, word)
    return state


RANDOM_EXAMPLES = 500  # x 3 steps = 1500 steps per run, about 1250 of them from running (not yet halted) states


@settings(max_examples=RANDOM_EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.integers(0, 2**64 - 1))
def test_random_states_agree(chain: OnChainMips, seed: int) -> None:
    check_steps(chain, random_state(seed), 3, label=f"random state (seed {seed})")


# ---------------------------------------------------------------------------------------------------------------
# Forged witnesses

def _load_witness() -> tuple[bytes, bytes, list[bytes]]:
    """Witness of `lw $t8, 4($s0)`: packed state, proofData = fetch proof ‖ data proof, and the two proofs."""
    state = make_state([asm.lw(T8, 4, S0)])
    witness = build_witness(state)
    proofs = split_proofs(witness.proof)
    assert len(proofs) == 2
    return witness.state, witness.proof, proofs


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def _mask(proof: bytes) -> int:
    return int.from_bytes(proof[32:36], "big")


def _with_mask(proof: bytes, mask: int) -> bytes:
    return proof[:32] + mask.to_bytes(4, "big") + proof[36:]


def _reverts(chain: OnChainMips, state: bytes, proof: bytes) -> str:
    with pytest.raises(ContractRevert) as info:
        chain.step(state, proof)
    return info.value.name


def test_honest_witness_gives_the_python_post_state_bytes(chain: OnChainMips) -> None:
    state = make_state([asm.lw(T8, 4, S0)])
    witness = interp.step(state, witness=True)
    assert chain.step_state(witness.state, witness.proof) == state.encode()
    assert chain.step(witness.state, witness.proof) == keccak(state.encode())


def test_wrong_leaf_is_rejected(chain: OnChainMips) -> None:
    state, _, (fetch, data) = _load_witness()
    assert _reverts(chain, state, _flip(fetch, 0) + data) == "InvalidMemoryProof"
    assert _reverts(chain, state, fetch + _flip(data, 31)) == "InvalidMemoryProof"


def test_wrong_sibling_is_rejected(chain: OnChainMips) -> None:
    state, _, (fetch, data) = _load_witness()
    assert len(fetch) > 36 and len(data) > 36
    assert _reverts(chain, state, _flip(fetch, 36) + data) == "InvalidMemoryProof"
    assert _reverts(chain, state, fetch + _flip(data, len(data) - 1)) == "InvalidMemoryProof"


def test_wrong_mask_is_rejected(chain: OnChainMips) -> None:
    state, _, (fetch, data) = _load_witness()
    lowest = _mask(fetch) & -_mask(fetch)
    assert lowest, "the fetch proof has a sibling"
    cleared = _with_mask(fetch, _mask(fetch) ^ lowest)  # a present sibling read as Z[h], the rest shifted
    assert _reverts(chain, state, cleared + data) == "InvalidMemoryProof"
    high_bit = _with_mask(data, _mask(data) | (1 << 27))  # bits 27..31 must be zero
    assert _reverts(chain, state, fetch + high_bit) == "InvalidMemoryProof"


def test_proof_of_another_chunk_is_rejected(chain: OnChainMips) -> None:
    state, _, (fetch, _) = _load_witness()
    assert _reverts(chain, state, fetch + fetch) == "InvalidMemoryProof"


def test_explicit_zero_sibling_is_accepted(chain: OnChainMips) -> None:
    """A verifier accepts any mask: a present sibling equal to Z[h] is only larger, not wrong."""
    state, proof, (fetch, data) = _load_witness()
    mask = _mask(data)
    h = next(h for h in range(27) if not mask >> h & 1)
    position = 36 + 32 * bin(mask & ((1 << h) - 1)).count("1")
    padded = _with_mask(data, mask | 1 << h)
    padded = padded[:position] + ZERO_HASHES[h] + padded[position:]
    assert chain.step(state, fetch + padded) == chain.step(state, proof)


def test_wrong_proof_lengths_are_rejected(chain: OnChainMips) -> None:
    state, proof, (fetch, _) = _load_witness()
    assert _reverts(chain, state, proof[:-1]) == "InvalidProofLength"
    assert _reverts(chain, state, proof + b"\x00") == "InvalidProofLength"
    assert _reverts(chain, state, fetch) == "InvalidProofLength"  # the data proof is missing
    assert _reverts(chain, state, b"") == "InvalidProofLength"
    alu = build_witness(make_state([asm.addu(T8, T2, T3)]))
    assert _reverts(chain, alu.state, alu.proof + proof[-32:]) == "InvalidProofLength"
    halted = make_state([asm.nop()])
    halted.status, halted.exit_code = Status.EXITED, 0
    assert _reverts(chain, halted.encode(), b"\x00") == "InvalidProofLength"


def test_step_from_checks_the_pre_state_hash(chain: OnChainMips) -> None:
    state, proof, _ = _load_witness()
    assert chain.step_from(keccak(state), state, proof) == chain.step(state, proof)
    with pytest.raises(ContractRevert) as info:
        chain.step_from(_flip(keccak(state), 0), state, proof)
    assert info.value.name == "PreStateMismatch"


@pytest.mark.parametrize("mutate,error", [
    (lambda s: s[:-1], "InvalidStateLength"),
    (lambda s: s + b"\x00", "InvalidStateLength"),
    (lambda s: s[:56] + b"\x03" + s[57:], "InvalidState"),  # status 3
    (lambda s: s[:57] + b"\x01" + s[58:], "InvalidState"),  # running with an exit code
    (lambda s: s[:61] + b"\x01" + s[62:], "InvalidState"),  # regs[0] != 0
], ids=["short", "long", "status", "exit-code", "reg0"])
def test_malformed_states_are_rejected(chain: OnChainMips, mutate, error: str) -> None:
    state, proof, _ = _load_witness()
    assert _reverts(chain, mutate(state), proof) == error


# ---------------------------------------------------------------------------------------------------------------
# A real program

def _matmul_state(m: int, k: int, n: int, seed: int) -> VMState:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(m, k, n), inputs=[a.tobytes(), b.tobytes()])


def test_matmul_kernel_runs_to_exit_on_chain(chain: OnChainMips) -> None:
    state = _matmul_state(2, 3, 2, seed=1)
    steps = 0
    while state.status == Status.RUNNING and steps < 2000:
        check_steps(chain, state, 1, label=f"matmul_i8 2x3x2 step {steps}")
        steps += 1
    assert state.status == Status.EXITED and steps > 100, state
    check_steps(chain, state, 1, label="matmul_i8 after exit")


@pytest.mark.parametrize("name", PROGRAMS)
def test_c_test_program_runs_to_exit_on_chain(chain: OnChainMips, tmp_path, name: str) -> None:
    """The VM's C test programs (tests/programs/), compiled with the cross compiler, every step on chain."""
    state = load_elf(build_program(name, tmp_path))
    steps = 0
    while state.status == Status.RUNNING and steps < 5000:
        check_steps(chain, state, 1, label=f"{name} step {steps}")
        steps += 1
    assert state.status == Status.EXITED, state


def test_matmul_kernel_first_steps_on_chain(chain: OnChainMips) -> None:
    check_steps(chain, _matmul_state(5, 7, 3, seed=2), 400, label="matmul_i8 5x7x3")


def test_matmul_kernel_sampled_steps_on_chain(chain: OnChainMips) -> None:
    """Steps spread over a whole run (output and stack written by then), one in every 25."""
    state = _matmul_state(8, 16, 8, seed=3)
    checked = 0
    while state.status == Status.RUNNING:
        if state.step % 25 == 0:
            check_steps(chain, state, 1, label=f"matmul_i8 8x16x8 step {state.step}")
            checked += 1
        else:
            interp.step(state)
    assert state.status == Status.EXITED and checked > 250, (state, checked)
