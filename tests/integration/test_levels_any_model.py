"""Any model the ONNX importer produces can be disputed on chain, not only the MNIST CNN and MLP.

A small residual CNN, built here from a seeded generator (tests/onnx_models.py), is imported with calibration
data; its integer graph uses Add, AvgPool, GlobalAvgPool, Softmax and ArgMax. The model is committed and
registered on Anvil's full ML stack (TensorCommitment, the three link verifiers, MIPS). Every node's honest links
pass the on-chain verifiers; then a lying submitter with a wrong output element in a node of each of those op
types, and a lying challenger, each lose a dispute that walks request → graph → tile → VM and ends in one MIPS
step executed on chain at the lie's node and tile.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, deploy_ml_game_stack, events, request
from level_disputes import dispute_to_the_end
from onnx_models import every_op_model
from web3 import Web3

from opml.chain.bindings import SubmissionStatus
from opml.game.types import Phase, Role
from opml.levels.commitments import EMPTY_TENSOR, ModelCommitment, commit_model
from opml.levels.faults import WrongOutput, corrupt_element
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.ml.onnx_import import quantize_onnx
from opml.ml.ops import OpType
from opml.ml.scales import QuantizedModel

MODEL_SEED = 2026
CONFIG = ML_STACK_CONFIG
DISPUTED_OPS = (OpType.ADD, OpType.AVG_POOL, OpType.GLOBAL_AVG_POOL, OpType.SOFTMAX, OpType.ARGMAX)
DELTAS = (1, 7, -3)


@pytest.fixture(scope="module")
def quantized() -> QuantizedModel:
    model, calibration = every_op_model(np.random.default_rng(MODEL_SEED))
    return quantize_onnx(model, calibration, name="every_op")


@pytest.fixture(scope="module")
def commitment(quantized: QuantizedModel) -> ModelCommitment:
    return commit_model(quantized.model)


@pytest.fixture(scope="module")
def honest(quantized: QuantizedModel, commitment: ModelCommitment) -> RequestLevel:
    """The honest party's view of a request on a fresh input (not one of the calibration items)."""
    x = np.random.default_rng(MODEL_SEED + 1).normal(0, 1, quantized.model.tensors[commitment.input_slot].shape)
    return RequestLevel(commitment, quantized.quantize_input(x.astype(np.float32)))


@pytest.fixture(scope="module")
def stack(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    """The game stack with the ML levels and the imported model registered."""
    yield deploy_ml_game_stack(w3, commitment, "opml://every_op", CONFIG)


def test_the_imported_graph_uses_every_disputed_op(quantized: QuantizedModel) -> None:
    ops = [node.op for node in quantized.model.nodes]
    assert all(op in ops for op in DISPUTED_OPS), ops
    assert ops[-2:] == [OpType.SOFTMAX, OpType.ARGMAX]


def test_every_node_links_on_chain(stack: GameStack, honest: RequestLevel) -> None:
    """graph → tile for every node and tile → VM for its first and last tile: the verifiers accept the honest
    openings and return the sub-start and context Python computes."""
    g = honest.graph
    graph_tile, tile_vm = stack.link_verifiers[1], stack.link_verifiers[2]
    for k in range(g.length):
        tiles = g.tile_level(k)
        args = (honest.commitment.graph_context, k, g.root_at(k), g.root_at(k + 1), tiles.root_at(tiles.length),
                tiles.length)
        start, context = graph_tile.functions.verifyLink(args, g.link_proof(k).encode()).call()
        assert (bytes(start), bytes(context)) == g.link_proof(k).verify(*args) and bytes(start) == EMPTY_TENSOR
        for t in sorted({0, tiles.length - 1}):
            vm = tiles.vm_level(t)
            vm_args = (bytes(context), t, tiles.root_at(t), tiles.root_at(t + 1), vm.root_at(vm.length), vm.length)
            vm_start, vm_context = tile_vm.functions.verifyLink(vm_args, tiles.link_proof(t).encode()).call()
            where = f"node {k} ({_op_name(honest, k)}) tile {t}"
            assert (bytes(vm_start), bytes(vm_context)) == tiles.link_proof(t).verify(*vm_args), where
            assert bytes(vm_start) == vm.root_at(0), where


def _op_name(r: RequestLevel, k: int) -> str:
    return r.commitment.model.nodes[k].op.value


def _lie_in(honest: RequestLevel, op: OpType, rng: random.Random) -> WrongOutput:
    """A wrong output element in a random tile of the node running `op`, from the first VM step, the exit step or
    a step mid-run; the wrong value is never zero (the tile's OUTPUT before its kernel writes it)."""
    c = honest.commitment
    node = next(k for k, n in enumerate(c.model.nodes) if n.op is op)
    plan = c.nodes[node].plan
    first, end = plan.tile(rng.randrange(plan.tile_count))
    element = rng.randrange(first, end)
    output = honest.graph.values[c.model.nodes[node].output]
    delta = next(d for d in rng.sample(DELTAS, len(DELTAS)) if corrupt_element(output, element, d).flat[element])
    steps = honest.graph.tile_level(node).vm_level(element // plan.tile_elems).final_step
    vm_step = rng.choice([1, None, rng.randint(2, steps - 1)])
    return WrongOutput(node, element, delta=delta, vm_step=vm_step)


def _assert_decided_by_one_step(stack: GameStack, played, honest: RequestLevel, liar: RequestLevel,  # noqa: ANN001
                                fault: WrongOutput, liar_role: Role, why: str) -> None:
    """The honest side won by one MIPS step at the lie's node and tile, executed on chain: its computed
    post-state is the honest VM root, and the liar's claim at that step is its own (wrong) root."""
    winner = Phase.CHALLENGER_WON if liar_role is Role.SUBMITTER else Phase.SUBMITTER_WON
    assert played.final.phase is winner and not played.rejected, f"{why}: {played.final} {played.rejected}"
    (resolved,) = events(stack.game.events.GameResolved, played.receipts[-1])
    assert not resolved["byTimeout"], why
    tile = fault.element // honest.commitment.nodes[fault.node].plan.tile_elems
    assert played.final.openings == (0, fault.node, tile) and played.final.depth == 3, why
    honest_vm = honest.graph.tile_level(fault.node).vm_level(tile)
    liar_vm = liar.graph.tile_level(fault.node).vm_level(tile)
    lo, hi = played.final.lo, played.final.hi
    lie_at = honest_vm.final_step if fault.vm_step is None else fault.vm_step
    assert hi == lo + 1 and hi >= lie_at, why
    if fault.vm_step in (1, None):  # the liar's first differing state: its wrong value is not the one it replaces
        assert (lo, hi) == (lie_at - 1, lie_at), why
    assert honest_vm.root_at(lo) == liar_vm.root_at(lo) and honest_vm.root_at(hi) != liar_vm.root_at(hi), why
    (stepped,) = events(stack.game.events.Stepped, played.receipts[-1])
    assert bytes(stepped["computedPost"]) == honest_vm.root_at(hi), why
    claimant = liar_vm if liar_role is Role.SUBMITTER else honest_vm  # the submitter's root is the claimed one
    assert bytes(stepped["claimedPost"]) == claimant.root_at(hi), why
    submission = stack.coordinator.functions.getSubmission(played.final.submission_id).call()
    assert (SubmissionStatus(submission[6]) is SubmissionStatus.SLASHED) == (liar_role is Role.SUBMITTER), why
    assert stack.coordinator.functions.getChallenge(played.final.game_id).call()[2], f"{why}: not settled"


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("liar_role", [Role.SUBMITTER, Role.CHALLENGER], ids=["lying-submitter", "lying-challenger"])
@pytest.mark.parametrize("op", DISPUTED_OPS, ids=[op.value for op in DISPUTED_OPS])
def test_a_lie_in_a_node_of_each_op_is_decided_by_one_mips_step(stack, honest, op: OpType, liar_role: Role) -> None:
    rng = random.Random(f"{MODEL_SEED}:{op.value}:{liar_role.name}")
    fault = _lie_in(honest, op, rng)
    why = f"{fault} ({op.value}) by the {liar_role.name.lower()}"
    liar = LyingRequestLevel(honest.commitment, honest.input_value, {fault})
    played = dispute_to_the_end(stack, liar, honest) if liar_role is Role.SUBMITTER else dispute_to_the_end(stack, honest, liar)
    _assert_decided_by_one_step(stack, played, honest, liar, fault, liar_role, why)
