"""The tile level of one node: T_t = commitment of the node's output tensor with tiles < t filled (the rest
zero), t = 0..tile_count. Transition t opens the VM level of tile t (proof: TileVmProof).

`TileLevel` is honest about the claim it is given: its roots are the claimed output's, its VM levels the honest
runs. A lying party's tile level wraps it from outside (`opml.levels.lies.LyingTileLevel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from opml.game.trace import NotLastLevel, StepWitness, TraceProvider, check_root_index, opened_once
from opml.kernels.mapped import load_kernel_mapped
from opml.kernels.vmstart import output_siblings, tile_params

from .commitments import NodeDef, tensor_commitment
from .links import TileVmProof
from .vm_level import VmLevel


@dataclass(frozen=True)
class TileClaim:
    """What a party claims about one node: its kernel and attributes, its input values and its output value."""

    kernel: str
    code_root: bytes
    attrs: bytes
    node: NodeDef
    inputs: tuple[np.ndarray, ...]
    output: np.ndarray


class TileLevel(TraceProvider):
    """One party's tile trace of one node: T_t commits to `claim.output` with tiles < t filled; tile t's VM level is
    the kernel's honest run on the claimed inputs."""

    is_last_level = False

    def __init__(self, claim: TileClaim) -> None:
        self.claim = claim
        self.plan = claim.node.plan
        self.length = self.plan.tile_count
        self._out_bytes = np.ascontiguousarray(claim.output).tobytes()
        self._elem_size = claim.output.dtype.itemsize
        self._roots: dict[int, bytes] = {}
        self._vms: dict[int, VmLevel] = {}

    @cached_property
    def input_roots(self) -> tuple[bytes, ...]:
        return tuple(tensor_commitment(x) for x in self.claim.inputs)

    def tile_bytes(self, t: int) -> bytes:
        """The output bytes with tiles < t filled (the OUTPUT region before tile t runs)."""
        filled = 0 if t == 0 else self.plan.tile(t - 1)[1] * self._elem_size
        return self._out_bytes[:filled] + bytes(len(self._out_bytes) - filled)

    def root_at(self, t: int) -> bytes:
        check_root_index(self.length, t)
        if t not in self._roots:
            self._roots[t] = tensor_commitment(self.tile_bytes(t))
        return self._roots[t]

    def step_witness(self, k: int) -> StepWitness:
        raise NotLastLevel(f"tile {k} opens the VM level")

    def open_next(self, t: int) -> tuple[VmLevel, bytes]:
        return self.vm_level(t), self.link_proof(t).encode()

    def link_proof(self, t: int) -> TileVmProof:
        """The proof that opens tile t's VM level."""
        final = self.vm_level(t).final_state
        return TileVmProof(self.claim.code_root, self.claim.attrs, self.input_roots, self.plan.tile_elems,
                            self.plan.out_elems, self.plan.vm_depth, final.encode(),
                            tuple(output_siblings(final)))

    def vm_level(self, t: int) -> VmLevel:
        return opened_once(self._vms, self.length, t, self._make_vm)

    def _make_vm(self, t: int) -> VmLevel:
        first, end = self.plan.tile(t)
        params = tile_params(self.claim.attrs, first, end)
        initial = load_kernel_mapped(self.claim.kernel, params=params, inputs=self.claim.inputs,
                                     output=self.tile_bytes(t))
        return VmLevel.run(initial, self.plan.vm_length)

