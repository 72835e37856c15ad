"""Witnesses are complete: the step recomputed from (packed pre-state, proofs) alone, as the contract does it,
equals the interpreter's post-state on random states and instructions; malformed witnesses are rejected."""

from __future__ import annotations

import inspect
import random

import pytest

import mips_asm as a
from opml.vm import interp, isa
from opml.vm.state import InvalidState, Status, VMState
from opml.vm.replay import InvalidMemoryProof, InvalidProofLength, execute_witness

DATA = 0x0020_0000
INTERESTING = [0, 1, 2, 3, 4, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 4001, 4246, DATA, DATA + 1,
               DATA + 2, DATA + 3, DATA + 0x1F, 0x0010_0000]


def random_value(rng: random.Random) -> int:
    choice = rng.random()
    if choice < 0.4:
        return rng.choice(INTERESTING)
    if choice < 0.6:
        return DATA + rng.randrange(-64, 64) & 0xFFFF_FFFF
    return rng.getrandbits(32)


def random_word(rng: random.Random) -> int:
    """Mostly valid instructions with small offsets, some random words."""
    if rng.random() < 0.15:
        return rng.getrandbits(32)
    fn = rng.choice(list(a.INSTRUCTIONS.values()))
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    args = []
    for p in params:
        if p.name in ("off", "imm"):
            args.append(rng.choice([0, 1, 2, 3, 4, -1, -4, 0x7FFF, -0x8000, rng.randrange(-64, 64)]))
        elif p.name == "target":
            args.append(rng.getrandbits(28))
        elif p.name == "sa":
            args.append(rng.randrange(32))
        else:
            args.append(rng.randrange(32))
    return fn(*args)


def random_state(rng: random.Random) -> VMState:
    pc = rng.choice([0x0010_0000, 0x0010_0ffc, DATA - 8, 0xFFFF_FFFC, rng.getrandbits(32) & ~3])
    if rng.random() < 0.05:
        pc |= rng.randrange(1, 4)
    next_pc = (pc + 4) & 0xFFFF_FFFF if rng.random() < 0.8 else rng.getrandbits(32)
    state = VMState(pc=pc, next_pc=next_pc, lo=random_value(rng), hi=random_value(rng), step=rng.getrandbits(20))
    state.regs = [0] + [random_value(rng) for _ in range(31)]
    for _ in range(rng.randrange(4)):
        state.memory.write_bytes(DATA + rng.randrange(-64, 64), rng.randbytes(rng.randrange(1, 16)))
    for _ in range(rng.randrange(3)):
        state.memory.write_word(rng.getrandbits(32) & ~3, rng.getrandbits(32))
    state.memory.write_word(pc & ~3, random_word(rng))
    if rng.random() < 0.05:
        state.status, state.exit_code = Status(rng.randrange(1, 3)), rng.randrange(256)
    return state


def test_random_steps_recomputed_from_the_witness_match_the_interpreter():
    rng = random.Random(1234)
    statuses = set()
    for i in range(3000):
        state = random_state(rng)
        word = state.memory.read_word(state.pc & ~3)
        witness = interp.step(state, witness=True)
        post = state.encode()
        assert execute_witness(witness.state, witness.proof) == post, f"case {i}: {isa.disassemble(word)}"
        statuses.add((state.status, state.exit_code))
    assert len(statuses) >= 8  # the random mix reached running, exit and most faults


def test_rejects_missing_extra_or_wrong_proofs():
    state = VMState(pc=0x0010_0000, next_pc=0x0010_0004)
    state.regs[8] = DATA
    state.memory.write_word(0x0010_0000, a.lw(9, 0, 8))
    state.memory.write_word(DATA, 77)
    witness = interp.step(state.copy(), witness=True)
    fetch, data = witness.proofs()
    with pytest.raises(InvalidProofLength):
        execute_witness(witness.state, fetch)  # data proof missing
    with pytest.raises(InvalidProofLength):
        execute_witness(witness.state, witness.proof + b"\0")
    with pytest.raises(InvalidProofLength):
        execute_witness(witness.state, fetch + data[:-1])
    with pytest.raises(InvalidMemoryProof):
        execute_witness(witness.state, fetch + data[:3] + b"\x01" + data[4:])  # claims the word is not 77
    with pytest.raises(InvalidMemoryProof):
        execute_witness(witness.state, data + data)  # a data proof in the fetch position
    with pytest.raises(InvalidState):
        execute_witness(witness.state[:56] + b"\x03" + witness.state[57:], b"")


def test_halted_state_takes_no_proof_and_stays():
    state = VMState(status=Status.EXITED, exit_code=3)
    assert execute_witness(state.encode(), b"") == state.encode()
    with pytest.raises(InvalidProofLength):
        execute_witness(state.encode(), bytes(36))
