"""VM state and its 186-byte packed encoding (docs/vm.md "State"); stateHash = keccak256(encoding)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from opml.hashing import keccak
from opml.vm.memory import Memory

STATE_SIZE = 186
REG_COUNT = 32
U32 = 0xFFFF_FFFF
U64 = 0xFFFF_FFFF_FFFF_FFFF


class Status(enum.IntEnum):
    RUNNING = 0
    EXITED = 1
    FAULTED = 2


class Fault(enum.IntEnum):
    """Fault codes: with status FAULTED, exitCode holds one of these."""

    INVALID_INSTRUCTION = 1
    UNALIGNED_FETCH = 2
    UNALIGNED_ACCESS = 3
    BRANCH_IN_DELAY_SLOT = 4
    OVERFLOW = 5
    DIVISION_BY_ZERO = 6
    TRAP = 7
    BAD_SYSCALL = 8


class InvalidState(ValueError):
    """A packed state is not 186 bytes or breaks an invariant (status <= 2, regs[0] == 0, exitCode rule)."""


@dataclass(frozen=True)
class StateHeader:
    """Every field of a packed state; the memory is only its root."""

    mem_root: bytes
    pc: int
    next_pc: int
    lo: int
    hi: int
    step: int
    status: Status
    exit_code: int
    regs: tuple[int, ...]

    def encode(self) -> bytes:
        return _pack(self.mem_root, self.pc, self.next_pc, self.lo, self.hi, self.step, self.status,
                     self.exit_code, self.regs)

    def hash(self) -> bytes:
        return keccak(self.encode())


def _pack(mem_root: bytes, pc: int, next_pc: int, lo: int, hi: int, step: int, status: int, exit_code: int,
          regs) -> bytes:
    return b"".join((
        mem_root,
        pc.to_bytes(4, "big"), next_pc.to_bytes(4, "big"), lo.to_bytes(4, "big"), hi.to_bytes(4, "big"),
        step.to_bytes(8, "big"), bytes((status, exit_code)),
        b"".join(r.to_bytes(4, "big") for r in regs),
    ))


def decode_state(data: bytes) -> StateHeader:
    """Parse and validate a packed state; raises InvalidState exactly where the contract rejects it."""
    if len(data) != STATE_SIZE:
        raise InvalidState(f"a packed state is {STATE_SIZE} bytes, got {len(data)}")
    status, exit_code = data[56], data[57]
    regs = tuple(int.from_bytes(data[58 + 4 * i : 62 + 4 * i], "big") for i in range(REG_COUNT))
    if status > Status.FAULTED:
        raise InvalidState(f"status {status} is not 0 (running), 1 (exited) or 2 (faulted)")
    if regs[0] != 0:
        raise InvalidState(f"regs[0] must be 0, got {regs[0]:#x}")
    if status == Status.RUNNING and exit_code != 0:
        raise InvalidState(f"a running state must have exitCode 0, got {exit_code}")
    return StateHeader(
        mem_root=bytes(data[:32]),
        pc=int.from_bytes(data[32:36], "big"),
        next_pc=int.from_bytes(data[36:40], "big"),
        lo=int.from_bytes(data[40:44], "big"),
        hi=int.from_bytes(data[44:48], "big"),
        step=int.from_bytes(data[48:56], "big"),
        status=Status(status),
        exit_code=exit_code,
        regs=regs,
    )


@dataclass(eq=False)
class VMState:
    """The whole machine: registers, control fields and memory. Interpreters mutate it in place."""

    pc: int = 0
    next_pc: int = 4
    lo: int = 0
    hi: int = 0
    step: int = 0
    status: Status = Status.RUNNING
    exit_code: int = 0
    regs: list[int] = field(default_factory=lambda: [0] * REG_COUNT)
    memory: Memory = field(default_factory=Memory)

    def __post_init__(self) -> None:
        if len(self.regs) != REG_COUNT:
            raise InvalidState(f"a state has {REG_COUNT} registers, got {len(self.regs)}")
        self.status = Status(self.status)

    def header(self) -> StateHeader:
        return StateHeader(self.memory.root(), self.pc, self.next_pc, self.lo, self.hi, self.step,
                           self.status, self.exit_code, tuple(self.regs))

    def encode(self) -> bytes:
        """The 186-byte packed state (integers big-endian)."""
        return _pack(self.memory.root(), self.pc, self.next_pc, self.lo, self.hi, self.step, self.status,
                     self.exit_code, self.regs)

    def hash(self) -> bytes:
        """keccak256 of the packed state."""
        return keccak(self.encode())

    def copy(self) -> VMState:
        """An independent state; memory pages are shared copy-on-write."""
        return VMState(self.pc, self.next_pc, self.lo, self.hi, self.step, self.status, self.exit_code,
                       list(self.regs), self.memory.copy())

    @property
    def running(self) -> bool:
        return self.status == Status.RUNNING

    def __repr__(self) -> str:
        return (f"VMState(pc={self.pc:#010x}, next_pc={self.next_pc:#010x}, step={self.step}, "
                f"status={self.status.name}, exit_code={self.exit_code})")
