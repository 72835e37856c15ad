"""Reference interpreter and Merkle memory figures (no compiler needed: the loop is assembled here).

Figures: `vm_interp_loop_ips` (instructions/s on a load/add/store/branch loop), `vm_witness_steps_per_s`
(steps with a witness each), `vm_region_root_mb_per_s` (`region_root_of_bytes` on 16 MiB),
`vm_memory_root_mb_per_s` (first `Memory.root()` after writing 16 MiB), `vm_rehash_page_us` (root after one
store), `vm_proof_us` (one memory proof), `vm_copy_4096_pages_ms` (copy-on-write snapshot).
"""

from __future__ import annotations

import os
import struct
import time

from opml.vm import interp
from opml.vm.memory import Memory, region_root_of_bytes
from opml.vm.state import VMState

BASE, DATA = 0x0010_0000, 0x0020_0000
LOOP_COUNT = 400_000


def _i(op: int, rs: int, rt: int, imm: int) -> int:
    return op << 26 | rs << 21 | rt << 16 | (imm & 0xFFFF)


def _loop_state() -> VMState:
    """t0 = LOOP_COUNT; loop: lw t1,0(t2); addu t1,t1,t0; sw t1,0(t2); addiu t0,t0,-1; bne t0,zero,loop;
    addiu t2,t2,4 (delay slot, walks through memory); then exit."""
    words = [
        _i(0x0F, 0, 8, LOOP_COUNT >> 16), _i(0x0D, 8, 8, LOOP_COUNT & 0xFFFF),  # li t0
        _i(0x0F, 0, 10, DATA >> 16),  # lui t2
        _i(0x23, 10, 9, 0), 9 << 21 | 8 << 16 | 9 << 11 | 0x21,  # lw t1,0(t2); addu t1,t1,t0
        _i(0x2B, 10, 9, 0), _i(0x09, 8, 8, -1), _i(0x05, 8, 0, -5), _i(0x09, 10, 10, 4),
        _i(0x09, 0, 2, 4001), 0x0000_000C,  # exit
    ]
    state = VMState(pc=BASE, next_pc=BASE + 4)
    state.memory.write_bytes(BASE, struct.pack(f"<{len(words)}I", *words))
    return state


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run() -> dict[str, float]:
    state = _loop_state()
    elapsed, steps = _timed(lambda: interp.run(state))
    assert state.exit_code == 0 and state.status == 1, state
    figures = {"vm_interp_loop_ips": round(steps / elapsed)}

    witness_state = _loop_state()
    elapsed, _ = _timed(lambda: [interp.step(witness_state, witness=True) for _ in range(3000)])
    figures["vm_witness_steps_per_s"] = round(3000 / elapsed)

    data = os.urandom(16 << 20)
    elapsed, root = _timed(lambda: region_root_of_bytes(data, 28))
    figures["vm_region_root_mb_per_s"] = round(16 / elapsed, 1)
    memory = Memory()
    memory.write_bytes(0x1000_0000, data)
    elapsed, memory_root = _timed(lambda: memory.region_root(0x1000_0000, 28))
    assert memory_root == root
    figures["vm_memory_root_mb_per_s"] = round(16 / elapsed, 1)

    def rehash() -> None:
        for i in range(200):
            memory.write_word(0x1000_0000 + i * 0x10000, i)
            memory.root()
    elapsed, _ = _timed(rehash)
    figures["vm_rehash_page_us"] = round(elapsed / 200 * 1e6, 1)
    elapsed, _ = _timed(lambda: [memory.proof(0x1000_0000 + i * 4093) for i in range(1000)])
    figures["vm_proof_us"] = round(elapsed / 1000 * 1e6, 1)
    elapsed, _ = _timed(memory.copy)
    figures["vm_copy_4096_pages_ms"] = round(elapsed * 1e3, 2)
    return figures
