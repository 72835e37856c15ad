"""FastMachine.rewind / read_bytes / write_bytes: a machine rewound after a run is its initial state again (every
page the run wrote, the registers, the control fields), and bytes written in are what a run then reads."""

from __future__ import annotations

import numpy as np

from opml.ml import executor
from opml.ml.scales import QuantizedModel
from opml.ml.vmrun import initial_state
from opml.paths import REPO_ROOT
from opml.vm import layout
from opml.vm.fast import PC, SLOTS_USED, STATUS, fast_machine
from opml.vm.memory import PAGE_SHIFT, PAGE_SIZE
from opml.vm.state import Status


def kernel_state():
    model = QuantizedModel.load(REPO_ROOT / "models" / "mnist_mlp.opml").model
    values = executor.run(model, [np.ones(model.tensors[model.inputs[0]].shape, np.int8)]).values
    node = model.nodes[0]
    return initial_state(node, [values[s] for s in node.inputs], 0, 2, hashed=False)


def page_bytes(state, page: int) -> bytes:
    return bytes(state.memory.page_view(page)) if page in state.memory.page_indices() else bytes(PAGE_SIZE)


def test_rewind_restores_every_written_page_and_the_registers() -> None:
    state = kernel_state()
    with fast_machine(state) as machine:
        steps = machine.run()
        assert machine.ctl[STATUS] == Status.EXITED
        written = [int(machine.slot_page[s]) for s in np.flatnonzero(machine.dirty[: machine.ctl[SLOTS_USED]])]
        stack_pages = [p for p in written if p << PAGE_SHIFT >= layout.STACK.base]
        assert stack_pages and any(machine.read_bytes(p << PAGE_SHIFT, PAGE_SIZE) != page_bytes(state, p)
                                   for p in written), "the run wrote the stack and changed some page"
        machine.rewind(state)
        assert machine.running and list(machine.regs) == list(state.regs) and machine.ctl[PC] == state.pc
        for page in written:
            assert machine.read_bytes(page << PAGE_SHIFT, PAGE_SIZE) == page_bytes(state, page)
        assert machine.run() == steps


def test_written_bytes_are_read_back_across_pages() -> None:
    state = kernel_state()
    with fast_machine(state) as machine:
        addr = layout.SCRATCH.base + PAGE_SIZE - 3  # never held by the state: two fresh pages
        machine.write_bytes(addr, b"abcdefg")
        assert machine.read_bytes(addr - 1, 9) == b"\0abcdefg\0"
        machine.rewind(state)
        assert machine.read_bytes(addr, 7) == bytes(7)
