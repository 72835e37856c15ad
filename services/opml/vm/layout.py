"""The fixed VM memory map: every region is an aligned power-of-two subtree of the memory Merkle tree.

A region's subtree root is the commitment of what it holds (docs/design.md "Commitments"), so a contract can compute a
kernel's initial memory root from a handful of region roots.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    log2_size: int

    @property
    def size(self) -> int:
        return 1 << self.log2_size

    @property
    def end(self) -> int:
        return self.base + self.size

    def __post_init__(self) -> None:
        if self.base % self.size:
            raise ValueError(f"region {self.name} at {self.base:#x} is not aligned to its size {self.size:#x}")

    def contains(self, addr: int) -> bool:
        return self.base <= addr < self.end


CODE = Region("code", 0x0010_0000, 20)  # text, rodata, data, bss of the program (linked here)
PARAMS = Region("params", 0x0020_0000, 20)  # op attributes and tile range
INPUT_COUNT = 6
INPUTS = tuple(Region(f"input{i}", 0x1000_0000 * (i + 1), 28) for i in range(INPUT_COUNT))
OUTPUT = Region("output", 0x8000_0000, 28)
SCRATCH = Region("scratch", 0xA000_0000, 28)  # kernel working memory, starts zeroed
STACK = Region("stack", 0xE000_0000, 28)

STACK_TOP = STACK.end - 16  # initial $sp: 8-aligned, leaves a small red zone

ALL = (CODE, PARAMS, *INPUTS, OUTPUT, SCRATCH, STACK)


def _check_disjoint() -> None:
    spans = sorted((r.base, r.end, r.name) for r in ALL)
    for (_, end, name), (base, _, other) in zip(spans, spans[1:]):
        if end > base:
            raise AssertionError(f"regions {name} and {other} overlap")


_check_disjoint()
