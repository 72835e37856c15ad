"""Run one node — or one tile of it, the flat output elements [first, end) — in the MIPS VM.

The node's kernel (`kernels/build/<kernel>.elf`, see ops.OPS) is loaded with its params (tile header +
vmparams.attribute_words) in PARAMS, input i's bytes in INPUTS[i] and the output tensor as it stood before the
tile (zeros by default) in OUTPUT; after the run the OUTPUT region holds the tensor with the tile filled in. The
kernel leaves every other output element untouched, so running the tiles of a node in order composes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from opml.kernels import load_kernel
from opml.kernels.mapped import load_kernel_mapped
from opml.kernels.params import pack_params
from opml.vm import layout
from opml.vm.fast import EXIT_CODE, STATUS, FastMachine, fast_machine, run_fast
from opml.vm.taint import FlowCause, TaintMachine, TaintRun, taint_machine
from opml.vm.state import Status, VMState

from .errors import MLError
from .model import Model, Node
from .ops import OPS, infer
from .tensor import DTYPES, TensorType, type_of
from .vmparams import attribute_words

log = structlog.get_logger(__name__)

DEFAULT_MAX_STEPS = 1 << 40


class VMRunError(MLError):
    """A kernel did not exit cleanly (fault, non-zero exit code, step limit) or was given a bad tile."""


@dataclass
class TileRun:
    """The VM's result: the whole output tensor after the tile, the steps it took and the final state (for
    running and reading only: big inputs are mapped without hashes)."""

    output: np.ndarray
    steps: int
    state: VMState


def output_type(node: Node, inputs: Sequence[np.ndarray]) -> TensorType:
    return infer(node.op, [type_of(x) for x in inputs], node.attrs)


def node_params(node: Node, inputs: Sequence[np.ndarray], first: int, end: int) -> bytes:
    """The params region of `node`'s kernel for the tile [first, end)."""
    in_types = [type_of(x) for x in inputs]
    words = attribute_words(node.op, node.attrs, in_types, infer(node.op, in_types, node.attrs))
    return pack_params(first, end, words)


def _tile(out: TensorType, first: int, end: int | None) -> tuple[int, int]:
    end = out.size if end is None else end
    if not 0 <= first <= end <= out.size:
        raise VMRunError(f"tile [{first}, {end}) is not inside an output of {out.size} elements")
    return first, end


def initial_state(node: Node, inputs: Sequence[np.ndarray], first: int = 0, end: int | None = None,
                  output_before: np.ndarray | None = None, hashed: bool = True) -> VMState:
    """The VM state that computes the tile [first, end) of `node` (end defaults to the whole output).

    `output_before` is the output tensor as earlier tiles left it (zeros when None). With `hashed=False` big
    inputs are mapped, not copied, and the state has no hashes (`opml.kernels.mapped`): for running only.
    """
    out = output_type(node, inputs)
    first, end = _tile(out, first, end)
    before = np.zeros(out.shape, dtype=DTYPES[out.dtype]) if output_before is None else output_before
    if type_of(before) != out:
        raise VMRunError(f"output_before is {type_of(before)}, the node produces {out}")
    params = node_params(node, inputs, first, end)
    if not hashed:
        return load_kernel_mapped(OPS[node.op].kernel, params=params, inputs=inputs, output=before.tobytes(),
                                  hashed=False)
    data = [np.ascontiguousarray(x).tobytes() for x in inputs]
    return load_kernel(OPS[node.op].kernel, params=params, inputs=data, output=before.tobytes())


def read_output(state: VMState, out: TensorType) -> np.ndarray:
    """The output tensor held in the OUTPUT region of `state`."""
    raw = state.memory.read_bytes(layout.OUTPUT.base, out.nbytes)
    return np.frombuffer(raw, dtype=DTYPES[out.dtype]).reshape(out.shape).copy()


def run_node(node: Node, inputs: Sequence[np.ndarray], first: int = 0, end: int | None = None,
             output_before: np.ndarray | None = None, max_steps: int = DEFAULT_MAX_STEPS) -> TileRun:
    """Compute the tile [first, end) of `node` on `inputs` in the VM (fast executor); VMRunError unless exit 0."""
    state = initial_state(node, inputs, first, end, output_before, hashed=False)
    steps = run_fast(state, max_steps)
    _check_exit(node, Status(state.status), state.exit_code, steps)
    log.debug("vm_tile_run", op=node.op.value, first=first, end=end, steps=steps)
    return TileRun(read_output(state, output_type(node, inputs)), steps, state)


def _check_exit(node: Node, status: Status, exit_code: int, steps: int) -> None:
    if status != Status.EXITED or exit_code != 0:
        raise VMRunError(f"{node.op.value} kernel {OPS[node.op].kernel!r} stopped with status "
                         f"{status.name}, code {exit_code} after {steps} steps")


def tile_steps(node: Node, inputs: Sequence[np.ndarray], tiles: Sequence[tuple[int, int]],
               max_steps: int = DEFAULT_MAX_STEPS) -> tuple[list[int], np.ndarray]:
    """(each tile's VM steps, the output after the last) for the tiles [first, end) of `node` run in this
    order, each from the output the ones before it left (zeros before the first): what `run_node` chained
    through `output_before` gives, on one VM image. The kernel is loaded once; between tiles the machine is
    rewound to that initial state (registers, and every page a run wrote) and the next tile's params and the
    output so far are written in, so each run starts from exactly the state `initial_state` would build for it
    (tests/differential/test_tile_steps.py). VMRunError unless every run exits 0."""
    return _tiles_on_one_image(node, inputs, tiles, fast_machine, lambda machine: machine.run(max_steps))


@dataclass(frozen=True)
class DataFlow:
    """Whether a node's tile runs take the same steps on every input: `steps` (each tile's) when every run is
    data-free (`opml.vm.taint`), else None and the first tile that is not, with why and where."""

    steps: tuple[int, ...] | None
    tile: int = -1
    cause: FlowCause = FlowCause.NONE
    pc: int = 0


class _DataDependent(Exception):
    def __init__(self, run: TaintRun) -> None:
        self.run = run


def data_free_tile_steps(node: Node, inputs: Sequence[np.ndarray], tiles: Sequence[tuple[int, int]],
                         data: Sequence[bool]) -> DataFlow:
    """`tile_steps` of the tiles, run with taint on the inputs marked in `data` (those a request can change)
    and on the output (earlier tiles' results): the steps hold for every value of those tensors when the answer
    has them. The untainted inputs (the model's constants) and the tensors' types are part of what is proven on."""
    regions = [layout.INPUTS[i] for i, changes in enumerate(data) if changes] + [layout.OUTPUT]
    done: list[int] = []

    def run(machine: TaintMachine) -> int:
        result = machine.taint_run()
        if not result.data_free:
            raise _DataDependent(result)
        done.append(result.steps)
        return result.steps

    try:
        steps, _ = _tiles_on_one_image(node, inputs, tiles, lambda state: taint_machine(state, regions), run)
    except _DataDependent as dependent:
        return DataFlow(None, len(done), dependent.run.cause, dependent.run.pc)
    return DataFlow(tuple(steps))


def _tiles_on_one_image(node: Node, inputs: Sequence[np.ndarray], tiles: Sequence[tuple[int, int]],
                        machine_on: Callable[[VMState], AbstractContextManager[FastMachine]],
                        run: Callable[[Any], int]) -> tuple[list[int], np.ndarray]:
    """The tile loop of `tile_steps` on the machine `machine_on` gives, each tile run by `run(machine)`."""
    if not tiles:
        raise VMRunError("tile_steps needs at least one tile")
    out = output_type(node, inputs)
    state = initial_state(node, inputs, *_tile(out, *tiles[0]), hashed=False)
    steps = []
    with machine_on(state) as machine:
        for index, (first, end) in enumerate(tiles):
            if index:
                output = machine.read_bytes(layout.OUTPUT.base, out.nbytes)
                machine.rewind(state)
                machine.write_bytes(layout.PARAMS.base, node_params(node, inputs, *_tile(out, first, end)))
                machine.write_bytes(layout.OUTPUT.base, output)
            done = run(machine)
            _check_exit(node, Status(int(machine.ctl[STATUS])), int(machine.ctl[EXIT_CODE]), done)
            steps.append(done)
        output = machine.read_bytes(layout.OUTPUT.base, out.nbytes)
    return steps, np.frombuffer(output, dtype=DTYPES[out.dtype]).reshape(out.shape).copy()


def run_tiles(node: Node, inputs: Sequence[np.ndarray], bounds: Sequence[int]) -> np.ndarray:
    """Run the tiles [bounds[0], bounds[1]), [bounds[1], bounds[2]), … in sequence, each VM run starting from
    the output the previous one left; returns the final output tensor."""
    output = None
    for first, end in zip(bounds, bounds[1:]):
        output = run_node(node, inputs, first, end, output_before=output).output
    if output is None:
        raise VMRunError("run_tiles needs at least two bounds")
    return output


def run_model(model: Model, x: np.ndarray) -> tuple[int, np.ndarray]:
    """Every node of a one-input model in the VM, each reading the VM's own earlier outputs (whole nodes, one
    run each): (total VM steps, the first model output)."""
    values = {model.inputs[0]: x, **model.constants}
    steps = 0
    for node in model.nodes:
        result = run_node(node, [values[slot] for slot in node.inputs])
        values[node.output] = result.output
        steps += result.steps
    return steps, values[model.outputs[0]]
