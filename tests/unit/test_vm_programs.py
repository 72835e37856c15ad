"""Compiled C programs on the reference interpreter; every expected value is computed here in Python."""

from __future__ import annotations

import random
import struct

import pytest
from elftools.elf.elffile import ELFFile

from opml.vm import interp, isa, layout
from opml.vm.elf import load_elf
from opml.vm.memory import verify_proof
from opml.vm.state import Status, VMState
from vm_programs import programs  # noqa: F401 - fixture

M = 0xFFFF_FFFF


def run_program(path, params: bytes, max_steps: int = 5_000_000) -> VMState:
    state = load_elf(path)
    state.memory.write_bytes(layout.PARAMS.base, params)
    interp.run(state, max_steps)
    assert state.status == Status.EXITED, f"{path.name}: {state}"
    return state


def output_words(state: VMState, count: int, offset: int = 0) -> list[int]:
    return list(struct.unpack(f"<{count}I", state.memory.read_bytes(layout.OUTPUT.base + offset, 4 * count)))


def mnemonics(path) -> set[str]:
    with open(path, "rb") as f:
        code = ELFFile(f).get_section_by_name(".text").data()
    return {isa.disassemble(w).split()[0] for (w,) in struct.iter_unpack("<I", code)}


def c_div(a: int, b: int) -> tuple[int, int]:
    """C99 signed division of int32 values: quotient truncated toward zero, remainder with the dividend's sign."""
    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    return q, a - q * b


def test_divmod(programs):
    assert {"div", "divu", "mult", "multu", "mfhi", "mflo"} <= mnemonics(programs["divmod"])
    rng = random.Random(1)
    pairs = [(7, -2), (-7, 2), (-7, -2), (-2**31, -1), (-2**31, 1), (2**31 - 1, -2**31), (0, 5), (-1, -1)]
    pairs += [(rng.randrange(-2**31, 2**31), rng.choice([-1, 1]) * rng.randrange(1, 2**rng.randrange(1, 32)))
              for _ in range(40)]
    params = struct.pack("<I", len(pairs)) + b"".join(struct.pack("<ii", x, y) for x, y in pairs)
    state = run_program(programs["divmod"], params)
    got = output_words(state, 8 * len(pairs))
    for i, (x, y) in enumerate(pairs):
        q, r = c_div(x, y)
        ux, uy = x & M, y & M
        sp, up = (x * y) & (2**64 - 1), ux * uy
        expected = [q & M, r & M, ux // uy, ux % uy, sp & M, sp >> 32, up & M, up >> 32]
        assert got[8 * i : 8 * i + 8] == expected, f"pair {i}: {x} / {y}"
    assert state.exit_code == len(pairs)


def test_packed_structs_use_unaligned_loads_and_stores(programs):
    assert {"lwl", "lwr", "swl", "swr"} <= mnemonics(programs["packed"])
    rng = random.Random(2)
    records = [(rng.randrange(256), rng.randrange(2**32), rng.randrange(-2**15, 2**15), rng.randrange(-2**31, 2**31))
               for _ in range(37)]
    params = struct.pack("<I", len(records)) + b"".join(struct.pack("<BIhi", *rec) for rec in records)
    state = run_program(programs["packed"], params)
    expected = b"".join(
        struct.pack("<BIhi", tag, (value * 3 + tag) & M, -half if half != -2**15 else half, sval ^ _s32(value))
        for tag, value, half, sval in records)
    assert state.memory.read_bytes(layout.OUTPUT.base + 1, len(expected)) == expected
    total = sum(value + (sval & M) for _, value, _, sval in records) & M
    assert output_words(state, 1, 0x10000) == [total]
    assert state.exit_code == total & 0xFF


def _s32(value: int) -> int:
    return value - (1 << 32) if value & 0x8000_0000 else value


def fib(k: int) -> int:
    x, y = 0, 1
    for _ in range(k):
        x, y = y, x + y
    return x


def test_recursion(programs):
    assert {"jal", "jr", "sw", "lw"} <= mnemonics(programs["recurse"])
    rng = random.Random(3)
    values = [rng.randrange(-2**31, 2**31) for _ in range(120)] + [5, 5, -1, 0]
    k = 17
    params = struct.pack("<II", len(values), k) + struct.pack(f"<{len(values)}i", *values)
    state = run_program(programs["recurse"], params)
    got = struct.unpack(f"<{len(values) + 1}i", state.memory.read_bytes(layout.OUTPUT.base, 4 * (len(values) + 1)))
    assert list(got[:-1]) == sorted(values)
    assert got[-1] == fib(k) and state.exit_code == fib(k) & 0xFF
    assert layout.STACK.contains(state.regs[29])  # $sp back where _start left it, inside the stack region


def xorshift_fold(n: int) -> int:
    x, acc = 2463534242, 0
    for _ in range(n):
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        acc = (acc + (x & 0xFF)) & M
    return (x + acc) & M


def test_loop(programs):
    n = 3000
    state = run_program(programs["loop"], struct.pack("<I", n))
    assert output_words(state, 1) == [xorshift_fold(n)]
    assert state.exit_code == xorshift_fold(n) & 0xFF


def test_run_with_a_step_limit_resumes_exactly(programs):
    params = struct.pack("<I", 500)
    whole = load_elf(programs["loop"])
    whole.memory.write_bytes(layout.PARAMS.base, params)
    total = interp.run(whole)
    pieces = load_elf(programs["loop"])
    pieces.memory.write_bytes(layout.PARAMS.base, params)
    done = 0
    for chunk in (1, 2, 3, 500, 1, 777):
        done += interp.run(pieces, chunk)
    while pieces.status == Status.RUNNING:
        done += interp.run(pieces, 1000)
    assert done == total == whole.step == pieces.step
    assert pieces.hash() == whole.hash()


@pytest.mark.parametrize("name", ["packed", "recurse"])
def test_stepping_with_witnesses_matches_run(programs, name):
    """Step by step with witnesses: each proof verifies against its pre-state, and the end equals run()."""
    params = {"packed": struct.pack("<I", 2) + bytes(range(22)),
              "recurse": struct.pack("<II", 6, 5) + struct.pack("<6i", 3, -1, 2, 9, 0, 4)}[name]
    reference = load_elf(programs[name])
    reference.memory.write_bytes(layout.PARAMS.base, params)
    interp.run(reference)
    state = load_elf(programs[name])
    state.memory.write_bytes(layout.PARAMS.base, params)
    while state.status == Status.RUNNING:
        pc, regs = state.pc, list(state.regs)
        witness = interp.step(state, witness=True)
        root = witness.state[:32]
        proofs = witness.proofs()
        word = int.from_bytes(verify_proof(root, pc, proofs[0])[pc & 31 : (pc & 31) + 4], "little")
        address = isa.data_address(word, regs)
        assert len(proofs) == (1 if address is None else 2), isa.disassemble(word)
        if address is not None:
            verify_proof(root, address, proofs[1])
    assert state.hash() == reference.hash()
