"""The packed state (docs/vm.md "Packed encoding"): layout, hash, validation, copies."""

from __future__ import annotations

import pytest

from opml.hashing import keccak
from opml.vm.memory import EMPTY_ROOT
from opml.vm.state import STATE_SIZE, Fault, InvalidState, StateHeader, Status, VMState, decode_state


def sample_state() -> VMState:
    state = VMState(pc=0x0010_0004, next_pc=0x0010_0100, lo=0x0A0B_0C0D, hi=0xFFFF_FFFE, step=0x0102_0304_0506_0708,
                    status=Status.FAULTED, exit_code=Fault.TRAP)
    state.regs = [0] + [0x1111_1111 * (i % 15) + i for i in range(1, 32)]
    state.memory.write_word(0x8000_0000, 42)
    return state


def test_layout_is_big_endian_at_the_documented_offsets():
    state = sample_state()
    data = state.encode()
    assert len(data) == STATE_SIZE == 186
    assert data[0:32] == state.memory.root() != EMPTY_ROOT
    assert data[32:36] == bytes.fromhex("00100004")
    assert data[36:40] == bytes.fromhex("00100100")
    assert data[40:44] == bytes.fromhex("0a0b0c0d")
    assert data[44:48] == bytes.fromhex("fffffffe")
    assert data[48:56] == bytes.fromhex("0102030405060708")
    assert data[56:58] == bytes([2, 7])
    for i in range(32):
        assert int.from_bytes(data[58 + 4 * i : 62 + 4 * i], "big") == state.regs[i]
    assert state.hash() == keccak(data)


def test_decode_round_trip():
    state = sample_state()
    header = decode_state(state.encode())
    assert header == state.header()
    assert header.encode() == state.encode()
    assert header.hash() == state.hash()
    assert header.status is Status.FAULTED


def test_fresh_state():
    state = VMState()
    data = state.encode()
    assert data[:32] == EMPTY_ROOT
    assert data[32:] == bytes(4) + (4).to_bytes(4, "big") + bytes(186 - 40)


@pytest.mark.parametrize("patch, message", [
    (lambda d: d[:-1], "186 bytes"),
    (lambda d: d + b"\0", "186 bytes"),
    (lambda d: d[:56] + bytes([3, 0]) + d[58:], "status 3"),
    (lambda d: d[:56] + bytes([0, 5]) + d[58:], "exitCode 0"),
    (lambda d: d[:58] + (1).to_bytes(4, "big") + d[62:], "regs\\[0\\]"),
])
def test_invalid_encodings_are_rejected(patch, message):
    data = VMState().encode()
    with pytest.raises(InvalidState, match=message):
        decode_state(patch(data))


def test_exited_and_faulted_states_may_carry_a_code():
    data = bytearray(VMState().encode())
    data[56:58] = bytes([1, 255])
    assert decode_state(bytes(data)).exit_code == 255


def test_copy_is_independent():
    state = sample_state()
    clone = state.copy()
    clone.regs[5] = 99
    clone.pc = 8
    clone.memory.write_word(0x8000_0000, 43)
    assert state.regs[5] != 99 and state.pc == 0x0010_0004
    assert state.memory.read_word(0x8000_0000) == 42
    assert clone.hash() != state.hash() == sample_state().hash()


def test_wrong_register_count_is_rejected():
    with pytest.raises(InvalidState, match="32 registers"):
        VMState(regs=[0] * 31)


def test_header_is_a_plain_value():
    header = StateHeader(EMPTY_ROOT, 0, 4, 0, 0, 0, Status.RUNNING, 0, (0,) * 32)
    assert header.encode() == VMState().encode()
