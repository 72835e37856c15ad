"""The fast executor (`opml.vm.fast`) and the reference interpreter (`opml.vm.interp`) reach identical states.

Identical means equal 186-byte encodings (memory root included) after the same number of steps, for random
instruction streams (every instruction of docs/vm.md, self-modifying stores, every fault), for stops at
arbitrary step limits (also between a branch and its delay slot), and for the committed kernels.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from opml.kernels import load_kernel
from opml.kernels.build import FLAGS, KernelBuildError, find_compiler
from opml.kernels.params import pack_matmul_params
from opml.vm import interp, isa
from opml.vm.elf import load_elf
from opml.vm.fast import FastMachine, run_fast
from opml.vm.state import Fault, Status, VMState
from unit import mips_asm as asm

PROGRAMS_DIR = Path(__file__).resolve().parents[1] / "programs"
CODE_BASE = 0x0010_0000
DATA_BASE = 0x8000_0000

# The instruction set of docs/vm.md, grouped so the generator can weigh them: (op, selector) with the selector
# funct (op 0 and 0x1C) or rt (op 1).
SPECIAL_ALU = (0x00, 0x02, 0x03, 0x04, 0x06, 0x07, 0x0A, 0x0B, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x18, 0x19, 0x1A,
               0x1B, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B)
SPECIAL_TRAPS = (0x30, 0x31, 0x32, 0x33, 0x34, 0x36)
SPECIAL_RARE = (0x0C, 0x0D)  # syscall, break
REGIMM_BRANCHES = (0x00, 0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13)
REGIMM_TRAPS = (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0E)
SPECIAL2_FUNCTS = (0x00, 0x01, 0x02, 0x04, 0x05, 0x20, 0x21)
IMMEDIATE_OPS = (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F)
BRANCH_OPS = (0x04, 0x05, 0x06, 0x07, 0x14, 0x15, 0x16, 0x17)
MEMORY_OPS = (0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x28, 0x29, 0x2A, 0x2B, 0x2E, 0x30, 0x33, 0x38)
POINTER_REGS = (8, 9, 10, 11, 12)  # hold addresses (see _random_state), used as load/store bases
DATA_REGS = tuple(r for r in range(32) if r not in POINTER_REGS)
EDGE_VALUES = (0, 1, 2, 3, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x8000, 0xFFFF, 4001, 4246)


def _random_word(rng: np.random.Generator) -> int:
    """A random instruction word: mostly from the set with operands that keep a program going, some anything."""
    def pick(options):
        return int(rng.choice(options))

    def reg():  # mostly leave the pointer registers alone
        return pick(DATA_REGS) if rng.random() < 0.9 else int(rng.integers(0, 32))

    rs, rt, rd, sa = reg(), reg(), reg(), int(rng.integers(0, 32))
    roll = rng.random()
    if roll < 0.30:
        return asm.r_type(pick(SPECIAL_ALU), rs, rt, rd, sa)
    if roll < 0.50:
        imm = int(rng.integers(-0x8000, 0x10000)) if rng.random() < 0.5 else int(rng.integers(-8, 9))
        return asm.i_type(pick(IMMEDIATE_OPS), rs, rt, imm)
    if roll < 0.72:
        base = pick(POINTER_REGS) if rng.random() < 0.9 else rs
        imm = 4 * int(rng.integers(-10, 11)) + (int(rng.integers(0, 4)) if rng.random() < 0.15 else 0)
        return asm.i_type(pick(MEMORY_OPS), base, rt, imm)
    if roll < 0.80:
        return asm.i_type(pick(BRANCH_OPS), rs, rt, int(rng.integers(-6, 7)))
    if roll < 0.85:
        return asm.regimm(pick(REGIMM_BRANCHES), rs, int(rng.integers(-6, 7)))
    if roll < 0.90:
        return asm.special2(pick(SPECIAL2_FUNCTS), rs, rt, rd)
    if roll < 0.93:
        jump = int(rng.integers(0, 4))
        target = CODE_BASE + 4 * int(rng.integers(0, 80))
        return (asm.j(target), asm.jal(target), asm.jr(12), asm.jalr(rd, 12))[jump]
    if roll < 0.96:
        if rng.random() < 0.5:
            return asm.r_type(pick(SPECIAL_TRAPS), rs, rt)
        return asm.regimm(pick(REGIMM_TRAPS), rs, int(rng.integers(-3, 4)))
    if roll < 0.98:
        return asm.r_type(pick(SPECIAL_RARE))
    return int(rng.integers(0, 1 << 32))  # anything: mostly INVALID_INSTRUCTION


def _random_state(seed: int, n_words: int = 64) -> VMState:
    rng = np.random.default_rng(seed)
    state = VMState(pc=CODE_BASE, next_pc=CODE_BASE + 4)
    code = [_random_word(rng) for _ in range(n_words)]
    state.memory.write_bytes(CODE_BASE, b"".join(w.to_bytes(4, "little") for w in code))
    state.memory.write_bytes(DATA_BASE, rng.bytes(128))
    state.memory.write_bytes(DATA_BASE + 0xFF0, rng.bytes(16))  # data up to a page boundary
    for r in range(1, 32):
        kind = rng.integers(0, 3)
        state.regs[r] = (int(rng.choice(EDGE_VALUES)) if kind == 0 else int(rng.integers(0, 1 << 32)) if kind == 1
                         else int(rng.integers(-16, 17)) & 0xFFFF_FFFF)
    state.regs[8] = DATA_BASE + 48
    state.regs[9] = CODE_BASE + 4 * int(rng.integers(0, n_words))  # stores here rewrite code
    state.regs[10] = DATA_BASE + 0xFFC  # unaligned accesses across the page boundary
    state.regs[11] = int(rng.integers(0, 1 << 32)) & ~3  # a fresh page anywhere
    state.regs[12] = CODE_BASE + 4 * int(rng.integers(0, n_words)) + (2 if rng.random() < 0.05 else 0)  # jr
    if rng.random() < 0.1:  # start inside a delay slot
        state.next_pc = CODE_BASE + 4 * int(rng.integers(0, n_words))
    return state


def _describe_divergence(initial: VMState, steps: int) -> str:
    """Steps both executors one at a time from `initial`; names the first step whose states differ."""
    ref, fast = initial.copy(), initial.copy()
    for n in range(steps):
        word = ref.memory.read_word(ref.pc) if ref.pc % 4 == 0 else 0
        where = f"step {n}: pc={ref.pc:#010x} {isa.disassemble(word)}"
        interp.run(ref, 1)
        run_fast(fast, 1)
        if ref.encode() != fast.encode():
            return f"{where}\n  reference {ref} regs={ref.regs}\n  fast      {fast} regs={fast.regs}"
    return "no single-step divergence (the difference comes from running several steps at once)"


def _assert_same_after(initial: VMState, steps: int) -> tuple[VMState, VMState]:
    ref, fast = initial.copy(), initial.copy()
    done_ref = interp.run(ref, steps)
    done_fast = run_fast(fast, steps)
    if (done_ref, ref.encode()) != (done_fast, fast.encode()):
        pytest.fail(f"after {steps} steps ({done_ref} vs {done_fast} executed): "
                    + _describe_divergence(initial, steps))
    return ref, fast


@pytest.mark.parametrize("seed", range(300))
def test_random_programs(seed):
    _assert_same_after(_random_state(seed), 400)


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_stopped_at_arbitrary_steps(seed):
    """Fast runs in random chunks (often ending on a delay slot) against the reference one step at a time."""
    rng = np.random.default_rng(10_000 + seed)
    initial = _random_state(10_000 + seed)
    ref, fast = initial.copy(), initial.copy()
    total = 0
    while ref.running and total < 300:
        chunk = int(rng.integers(1, 6))
        done = run_fast(fast, chunk)
        for _ in range(chunk):
            interp.run(ref, 1)
        total += chunk
        assert ref.encode() == fast.encode(), f"after {total} steps ({done} in last chunk): " + \
            _describe_divergence(initial, total)


def test_random_programs_cover_every_fault_and_exit():
    outcomes = set()
    for seed in range(300):
        state = _random_state(seed)
        run_fast(state, 400)
        outcomes.add((state.status, state.exit_code if state.status == Status.FAULTED else None))
    expected = {(Status.FAULTED, int(f)) for f in Fault if f is not Fault.UNALIGNED_FETCH}
    missing = expected - outcomes
    assert not missing, f"random programs never reached {missing}: make the generator reach them"


def _program(*words: int | list[int], regs: dict[int, int] | None = None) -> VMState:
    flat = [w for item in words for w in (item if isinstance(item, list) else [item])]
    state = VMState(pc=CODE_BASE, next_pc=CODE_BASE + 4)
    state.memory.write_bytes(CODE_BASE, asm.assemble(flat))
    for r, v in (regs or {}).items():
        state.regs[r] = v
    return state


FAULT_PROGRAMS = {
    Fault.INVALID_INSTRUCTION: _program(asm.nop(), 0x46000000),
    Fault.UNALIGNED_FETCH: _program(asm.jr(asm.T0), asm.nop(), regs={asm.T0: CODE_BASE + 2}),
    Fault.UNALIGNED_ACCESS: _program(asm.lh(asm.T1, 1, asm.T0), regs={asm.T0: DATA_BASE}),
    Fault.BRANCH_IN_DELAY_SLOT: _program(asm.beq(0, 0, 2), asm.j(CODE_BASE)),
    Fault.OVERFLOW: _program(asm.add(asm.T2, asm.T0, asm.T0), regs={asm.T0: 0x4000_0000}),
    Fault.DIVISION_BY_ZERO: _program(asm.div(asm.T0, asm.ZERO), regs={asm.T0: 5}),
    Fault.TRAP: _program(asm.teq(asm.ZERO, asm.ZERO)),
    Fault.BAD_SYSCALL: _program(asm.addiu(asm.V0, 0, 4000), asm.syscall()),
}


@pytest.mark.parametrize("fault", list(FAULT_PROGRAMS), ids=lambda f: f.name)
def test_every_fault_kind(fault):
    ref, fast = _assert_same_after(FAULT_PROGRAMS[fault], 10)
    assert (fast.status, fast.exit_code) == (Status.FAULTED, fault)


@pytest.mark.parametrize("number", [4001, 4246])
def test_exit_syscalls(number):
    state = _program(asm.li(asm.A0, 0x1234), asm.addiu(asm.V0, 0, number), asm.syscall(), asm.nop())
    ref, fast = _assert_same_after(state, 10)
    assert (fast.status, fast.exit_code, fast.step) == (Status.EXITED, 0x34, 4)


def test_wraparound_at_the_top_of_the_address_space():
    """pc and nextPC wrap mod 2^32; a branch whose delay slot is at address 0; the step counter wraps too."""
    state = VMState(pc=0xFFFF_FFF8, next_pc=0xFFFF_FFFC, step=(1 << 64) - 3)
    state.memory.write_bytes(0xFFFF_FFF8, asm.assemble([asm.nop(), asm.bgez(asm.ZERO, -2)]))
    state.memory.write_bytes(0, asm.assemble([asm.addiu(asm.T0, asm.T0, 1)]))
    ref, fast = _assert_same_after(state, 7)
    assert fast.step == 4 and fast.regs[asm.T0] > 0


def test_halted_state_is_left_unchanged():
    state = FAULT_PROGRAMS[Fault.TRAP].copy()
    run_fast(state)
    before = state.encode()
    assert run_fast(state, 5) == 0
    assert state.encode() == before


def test_stores_to_many_pages_grow_the_pool():
    """A loop storing to 600 distinct pages: more than the executor's first page pool holds."""
    loop = [asm.sw(asm.T1, 0, asm.T0), asm.addu(asm.T0, asm.T0, asm.T2), asm.addiu(asm.T3, asm.T3, -1),
            asm.bgtz(asm.T3, -4), asm.sb(asm.T3, 3, asm.T0)]
    state = _program(loop, asm.exit_(), regs={asm.T0: DATA_BASE, asm.T1: 0xDEADBEEF, asm.T2: 4096,
                                                     asm.T3: 600})
    assert FastMachine(state).pool.shape[0] < 600
    ref, fast = _assert_same_after(state, 10_000)
    assert fast.status == Status.EXITED
    assert fast.memory.read_word(DATA_BASE + 599 * 4096) == 0xDEADBEEF


def test_self_modifying_code():
    """A store rewrites an instruction that runs later; both executors run the new one."""
    new = asm.addiu(asm.A0, asm.ZERO, 77)
    state = _program(asm.li(asm.T1, new), asm.li(asm.T0, CODE_BASE + 4 * 5), asm.sw(asm.T1, 0, asm.T0),
                     asm.addiu(asm.A0, asm.ZERO, 1), asm.addiu(asm.V0, asm.ZERO, 4001), asm.syscall())
    ref, fast = _assert_same_after(state, 20)
    assert (fast.status, fast.exit_code) == (Status.EXITED, 77)


def _matmul_state(seed: int) -> VMState:
    rng = np.random.default_rng(seed)
    m, k, n = 5, 7, 6
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(m, k, n), inputs=[a.tobytes(), b.tobytes()])


def test_matmul_kernel_at_random_step_limits():
    initial = _matmul_state(3)
    total = interp.run(initial.copy())
    rng = np.random.default_rng(5)
    for steps in [0, 1, 2, 3, total - 1, total, total + 5, *(int(x) for x in rng.integers(0, total, size=12))]:
        _assert_same_after(initial, steps)


def test_matmul_kernel_resumed_from_intermediate_states():
    initial = _matmul_state(4)
    ref, fast = initial.copy(), initial.copy()
    rng = np.random.default_rng(6)
    while ref.running:
        chunk = int(rng.integers(1, 400))
        interp.run(ref, chunk)
        run_fast(fast, chunk)
        assert ref.encode() == fast.encode(), f"diverged at step {ref.step}"


@pytest.fixture(scope="module")
def test_programs(tmp_path_factory) -> dict[str, Path]:
    """The VM's C test programs (tests/programs), compiled with the kernel flags. Fails without the compiler."""
    try:
        compiler = find_compiler()
    except KernelBuildError as exc:
        pytest.fail(str(exc))
    out = tmp_path_factory.mktemp("programs")
    built = {}
    for source in sorted(PROGRAMS_DIR.glob("*.c")):
        if source.stem == "crt0":
            continue
        elf = out / f"{source.stem}.elf"
        subprocess.run([compiler, *FLAGS, "-T", "link.ld", "-I.", "-o", str(elf), source.name, "crt0.c"],
                       cwd=PROGRAMS_DIR, check=True, capture_output=True)
        built[source.stem] = elf
    assert built, f"no test programs in {PROGRAMS_DIR}"
    return built


def test_c_test_programs(test_programs):
    for name, elf in test_programs.items():
        initial = load_elf(elf)
        ref, fast = _assert_same_after(initial, 5_000_000)
        assert fast.status == Status.EXITED, f"{name}: {fast}"
        rng = np.random.default_rng(len(name))
        for steps in rng.integers(0, ref.step, size=5):
            _assert_same_after(initial, int(steps))
