"""A dispute over a real MIPS run, decided by the MIPS contract through the DisputeGame: one VM level (the
matmul kernel's trace, padded to a power of two) entered through FixedStartLinkVerifier."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import (GameStack, RequestAbove, StackConfig, challenge, deploy_stack, events, play, request,
                           submit)
from web3 import Web3

from opml.chain.contracts import deploy
from opml.game.trace import LastLevel, StepWitness, check_root_index, check_transition
from opml.game.types import Phase, Role
from opml.kernels import load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import layout
from opml.vm.snapshots import VMTrace
from opml.vm.state import Status, VMState

LENGTH = 512  # the 2x3x2 matmul halts well before; the rest is the halted state, padded
DEPTH = 9


def _initial() -> VMState:
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, size=(2, 3), dtype=np.int8)
    b = rng.integers(-128, 128, size=(3, 2), dtype=np.int8)
    return load_kernel("matmul_i8", params=pack_matmul_params(2, 3, 2), inputs=[a.tobytes(), b.tobytes()])


class VmLevel:
    """The VM level as one party computes it: honest, or (a liar) writing a stray byte into memory before step
    `lie_at` and computing on from there, so every later state differs from the honest one."""

    is_last_level = True

    def __init__(self, initial: VMState, lie_at: int | None = None) -> None:
        self.length = LENGTH
        self._honest = VMTrace(initial, interval=64)
        self._lie_at = lie_at
        self._liar: VMTrace | None = None
        if lie_at is not None:
            tampered = self._honest.state_at(lie_at)
            tampered.memory.write_bytes(layout.SCRATCH.end - 32, b"\x01")
            self._liar = VMTrace(tampered, interval=64)

    def _state(self, i: int) -> VMState:
        if self._liar is not None and i >= self._lie_at:
            return self._liar.state_at(i - self._lie_at)
        return self._honest.state_at(i)

    def root_at(self, i: int) -> bytes:
        check_root_index(self.length, i)
        return self._state(i).hash()

    def open_next(self, k: int):
        raise LastLevel("the VM level is the last level")

    def step_witness(self, k: int) -> StepWitness:
        check_transition(self.length, k)
        witness = self._honest.witness_at(k) if self._liar is None or k < self._lie_at else \
            self._liar.witness_at(k - self._lie_at)
        return StepWitness(witness.state, witness.proof)


@pytest.fixture(scope="module")
def vm_stack(w3: Web3, contracts_built: None, mips) -> Iterator[GameStack]:
    link = deploy(w3, "FixedStartLinkVerifier", _initial().hash(), LENGTH)
    config = StackConfig(level_lengths=(LENGTH,), max_depths=(DEPTH,), checkpoint_count=15)
    yield deploy_stack(w3, config, link_verifiers=[link], step_verifier=mips)


@pytest.fixture(scope="module")
def honest_vm() -> VmLevel:
    return VmLevel(_initial())


def _dispute(stack: GameStack, submitter_vm: VmLevel, challenger_vm: VmLevel):
    request_id, _ = request(stack)
    anchor = bytes(stack.coordinator.functions.getRequest(request_id).call()[5])
    submitter, challenger = RequestAbove(anchor, submitter_vm), RequestAbove(anchor, challenger_vm)
    submit(stack, request_id, submitter)
    game_id, _ = challenge(stack, request_id)
    return play(stack, game_id, {Role.SUBMITTER: submitter, Role.CHALLENGER: challenger})


def test_the_run_halts_inside_the_padded_trace(honest_vm: VmLevel) -> None:
    final = honest_vm._state(LENGTH)
    assert final.status == Status.EXITED and 100 < honest_vm._honest.final_step < LENGTH
    assert honest_vm.root_at(LENGTH) == honest_vm.root_at(LENGTH - 1)  # padding: a halted step is a no-op


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("lie_at", [1, 77, 140])
def test_lying_submitter_loses_on_the_mips_step(vm_stack: GameStack, honest_vm: VmLevel, lie_at: int) -> None:
    played = _dispute(vm_stack, VmLevel(_initial(), lie_at), honest_vm)
    assert played.final.phase is Phase.CHALLENGER_WON and not played.rejected
    assert (played.final.lo, played.final.hi) == (lie_at - 1, lie_at)
    (stepped,) = events(vm_stack.game.events.Stepped, played.receipts[-1])
    assert stepped["computedPost"] == honest_vm.root_at(lie_at) != stepped["claimedPost"]


@pytest.mark.usefixtures("isolated_chain")
def test_honest_submitter_wins_on_the_mips_step(vm_stack: GameStack, honest_vm: VmLevel) -> None:
    played = _dispute(vm_stack, honest_vm, VmLevel(_initial(), 90))
    assert played.final.phase is Phase.SUBMITTER_WON and not played.rejected
    (stepped,) = events(vm_stack.game.events.Stepped, played.receipts[-1])
    assert stepped["computedPost"] == stepped["claimedPost"] == honest_vm.root_at(90)
    assert stepped["preRoot"] == honest_vm.root_at(89)
