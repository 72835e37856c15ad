"""Disputes over an MNIST CNN inference on Anvil, through every level: request → graph (one transition per
node) → tile → VM (one transition per MIPS step), decided by one MIPS step executed on chain.

The stack is the real one: TensorCommitment (input/output commitments computed on chain), the three ML link
verifiers and the MIPS step contract. Lies land at an early node, the last node, a middle tile and the first or
last VM step of a tile; forged links are rejected with their named errors and the forger loses on time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import GameStack, StackConfig, advance_time, challenge, events, play, request, send
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.bindings import SubmissionStatus
from opml.chain.contracts import deploy
from opml.chain.tx import ErrorDecoder, TxSender
from opml.game.driver import GameDriver, Party, anvil_warp, chain_time
from opml.game.types import Phase, Role
from opml.kernels import REPO_ROOT
from opml.levels.commitments import ModelCommitment
from opml.levels.stack import deploy_level_contracts, deploy_ml_stack
from opml.levels.faults import ForgeGraphLink, ForgeOutput, ForgeTileLink, WrongOutput
from opml.levels.request_level import RequestLevel
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel

MODELS = REPO_ROOT / "models"
CONFIG = StackConfig(level_lengths=(), max_depths=(8, 16, 32), checkpoint_count=15, clock_seconds=3_600)


@pytest.fixture(scope="module")
def commitment() -> ModelCommitment:
    model = QuantizedModel.load(MODELS / "mnist_cnn.opml").model
    return ModelCommitment(model, plan_model(model))


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    quantized = QuantizedModel.load(MODELS / "mnist_cnn.opml")
    with np.load(MODELS / "mnist_data.npz") as data:
        return quantized.quantize_input(as_float_input(data["test_x"][437]))


@pytest.fixture(scope="module")
def honest(commitment: ModelCommitment, digit: np.ndarray) -> RequestLevel:
    return RequestLevel(commitment, digit)


@pytest.fixture(scope="module")
def stack(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    names = ("admin", "requester", "submitter", "challenger", "challenger2", "other")
    accounts = dict(zip(names, w3.eth.accounts[: len(names)]))
    admin = accounts["admin"]
    levels = deploy_level_contracts(w3, admin)
    registry = deploy(w3, "ModelRegistry", admin, sender=admin)
    game = deploy(w3, "DisputeGame", [c.address for c in levels.links], list(CONFIG.max_depths),
                  levels.step.address, CONFIG.checkpoint_count, CONFIG.clock_seconds, sender=admin)
    coordinator = deploy(w3, "Coordinator", registry.address, game.address, levels.commitment.address,
                         CONFIG.submitter_bond, CONFIG.challenger_bond, CONFIG.challenge_window, CONFIG.burn_bps,
                         "0x000000000000000000000000000000000000dEaD", CONFIG.max_callback_gas,
                         CONFIG.max_input_bytes, sender=admin)
    game.functions.bindCoordinator(coordinator.address).transact({"from": admin})
    errors = ErrorDecoder.from_abis(registry.abi, game.abi, coordinator.abi, levels.step.abi,
                                    *(c.abi for c in levels.links))
    stack = GameStack(w3, CONFIG, registry, game, coordinator, levels.commitment, levels.step, list(levels.links), 0,
                      errors, accounts)
    receipt = send(stack, registry.functions.registerModel(*commitment.roots, "file://models/mnist_cnn.opml",
                                                           CONFIG.model_fee), admin)
    (registered,) = events(registry.events.ModelRegistered, receipt)
    stack.model_id = registered["modelId"]
    yield stack


def _dispute(stack: GameStack, submitter: RequestLevel, challenger: RequestLevel):  # noqa: ANN202
    """Request, submit what `submitter` claims, challenge, and play to the end (a stalled liar loses on time)."""
    request_id, receipt = request(stack, submitter.input_value.tobytes())
    (created,) = events(stack.coordinator.events.RequestCreated, receipt)
    assert bytes(created["anchor"]) == submitter.root_at(0)  # the anchor the chain computed is Python's
    output, trace_commitment = submitter.submission()
    send(stack, stack.coordinator.functions.submit(request_id, output, trace_commitment), stack.submitter,
         CONFIG.submitter_bond)
    game_id, _ = challenge(stack, request_id)
    providers = {Role.SUBMITTER: submitter, Role.CHALLENGER: challenger}
    played = play(stack, game_id, providers)
    if not played.final.phase.is_over:
        advance_time(stack.w3, CONFIG.clock_seconds + 1)
        rest = play(stack, game_id, providers)
        rest.rejected[:0] = played.rejected
        played = rest
    return played


def _rejection_reasons(stack: GameStack, played) -> list[str]:  # noqa: ANN001
    """`Outer(Inner)` names of the rejected moves (the link verifier's error inside LinkProofInvalid)."""
    reasons = []
    for _, revert in played.rejected:
        inner = stack.errors.decode(revert.arguments[0]).name if revert.arguments else ""
        reasons.append(f"{revert.name}({inner})")
    return reasons


def _assert_decided_by_step(stack: GameStack, played, honest_vm_root, winner: Phase) -> None:  # noqa: ANN001
    assert played.final.phase is winner and played.final.depth == 3, played.final
    (stepped,) = events(stack.game.events.Stepped, played.receipts[-1])
    assert bytes(stepped["computedPost"]) == honest_vm_root(played.final.hi)
    assert (bytes(stepped["claimedPost"]) == honest_vm_root(played.final.hi)) == (winner is Phase.SUBMITTER_WON)


def _honest_vm(honest: RequestLevel, openings: tuple[int, ...]):  # noqa: ANN202
    _, node, tile = openings
    return honest.graph.tile_level(node).vm_level(tile).root_at


def _openings(stack: GameStack, game_id: int) -> tuple[int, ...]:
    logs = stack.game.events.LevelOpened().get_logs(from_block=0, argument_filters={"gameId": game_id})
    return tuple(log["args"]["parentIndex"] for log in sorted(logs, key=lambda log: log["args"]["level"]))


def _tile_of(commitment: ModelCommitment, node: int, element: int) -> int:
    return element // commitment.nodes[node].tile_elems


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("node, element, vm_step", [
    (0, 5, 1),            # an early node, the first VM step of its first tile
    (8, 9, None),         # the last node (the model output), the exit step of its last tile
    (3, 1600, 1),         # a middle tile (8 of 16) of the second convolution
    (3, 1600, None),      # … its last VM step
    (1, 3000, 12_345),    # a step in the middle of the run
])
def test_lying_submitter_loses_on_one_mips_step(stack, commitment, honest, digit, node, element, vm_step) -> None:
    liar = RequestLevel(commitment, digit, frozenset({WrongOutput(node, element, vm_step=vm_step)}))
    played = _dispute(stack, liar, honest)
    assert not played.rejected
    openings = _openings(stack, played.final.game_id)
    assert openings == (0, node, _tile_of(commitment, node, element))
    vm = honest.graph.tile_level(node).vm_level(openings[2])
    lie_at = vm.final_step if vm_step is None else vm_step
    assert (played.final.lo, played.final.hi) == (lie_at - 1, lie_at)
    _assert_decided_by_step(stack, played, _honest_vm(honest, openings), Phase.CHALLENGER_WON)


@pytest.mark.usefixtures("isolated_chain")
def test_lying_challenger_loses_on_one_mips_step(stack, commitment, honest, digit) -> None:
    liar = RequestLevel(commitment, digit, frozenset({WrongOutput(5, 100, vm_step=40)}))
    played = _dispute(stack, honest, liar)
    assert not played.rejected
    openings = _openings(stack, played.final.game_id)
    assert openings == (0, 5, _tile_of(commitment, 5, 100))
    assert (played.final.lo, played.final.hi) == (39, 40)
    _assert_decided_by_step(stack, played, _honest_vm(honest, openings), Phase.SUBMITTER_WON)


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("fault, reason, depth", [
    (ForgeOutput(), "LinkProofInvalid(OutputNotInEndState)", 0),
    (ForgeGraphLink(2), "LinkProofInvalid(TileEndMismatch)", 1),
    (ForgeTileLink(1, 3), "LinkProofInvalid(OutputRootMismatch)", 2),
])
def test_forged_link_is_rejected_and_the_forger_loses(stack, commitment, honest, digit, fault, reason,
                                                      depth) -> None:
    liar = RequestLevel(commitment, digit, frozenset({fault}))
    played = _dispute(stack, liar, honest)
    assert _rejection_reasons(stack, played)[:1] == [reason]
    assert played.final.phase is Phase.CHALLENGER_WON and played.final.depth == depth
    (resolved,) = events(stack.game.events.GameResolved, played.receipts[-1])
    assert resolved["byTimeout"]


@pytest.mark.usefixtures("isolated_chain")
def test_honest_result_is_not_disputed_into_a_loss(stack, commitment, honest, digit) -> None:
    """An honest submitter against a challenger who lies about the last tile of the last node."""
    liar = RequestLevel(commitment, digit, frozenset({WrongOutput(8, 9, vm_step=None)}))
    played = _dispute(stack, honest, liar)
    assert played.final.phase is Phase.SUBMITTER_WON and not played.rejected


def _random_fault(rng: random.Random, commitment: ModelCommitment):  # noqa: ANN202
    node = rng.randrange(len(commitment.nodes))
    kind = rng.choice(["wrong", "wrong", "wrong", "graph", "tile"])
    if kind == "graph":
        return ForgeGraphLink(node)
    if kind == "tile":
        return ForgeTileLink(node, rng.randrange(commitment.nodes[node].plan.tile_count))
    element = rng.randrange(commitment.nodes[node].out_elems)
    vm_step = rng.choice([1, None, rng.randrange(1, 200)])
    return WrongOutput(node, element, delta=rng.choice([-3, 1, 7]), vm_step=vm_step)


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("seed", range(8))
def test_randomized_disputes_the_honest_side_wins(stack, commitment, honest, digit, seed: int) -> None:
    rng = random.Random(seed)
    fault = _random_fault(rng, commitment)
    liar = RequestLevel(commitment, digit, frozenset({fault}))
    liar_submits = rng.random() < 0.5
    played = _dispute(stack, liar, honest) if liar_submits else _dispute(stack, honest, liar)
    expected = Phase.CHALLENGER_WON if liar_submits else Phase.SUBMITTER_WON
    assert played.final.phase is expected, (seed, fault, liar_submits, _rejection_reasons(stack, played))
    if isinstance(fault, WrongOutput):  # a consistent lie: no move rejected, decided by the MIPS step
        assert not played.rejected
        openings = _openings(stack, played.final.game_id)
        assert openings[1:] == (fault.node, _tile_of(commitment, fault.node, fault.element))
        _assert_decided_by_step(stack, played, _honest_vm(honest, openings), expected)
    else:  # a forged root with nothing behind it: the honest side wins on time
        (resolved,) = events(stack.game.events.GameResolved, played.receipts[-1])
        assert resolved["byTimeout"]


def test_node_driver_plays_a_dispute_on_the_deployed_ml_stack(w3, contracts_built, commitment, honest, digit,
                                                              isolated_chain) -> None:
    """The daemons' path: `deploy_ml_stack`, signed transactions (TxSender) and the game driver over the bindings;
    the liar at the last node's exit step loses on the MIPS step."""
    stack = deploy_ml_stack(w3)
    model_id = stack.register(commitment)
    errors = stack.bindings.errors()
    requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
    liar = RequestLevel(commitment, digit, frozenset({WrongOutput(7, 4, vm_step=None)}))
    c = stack.bindings.coordinator
    mined = requester.send(c.request(model_id, digit.tobytes()), value=stack.config.model_fee)
    request_id = c.events("RequestCreated", mined.receipt)[0]["requestId"]
    submitted = submitter.send(c.submit(request_id, *liar.submission()), value=stack.config.submitter_bond)
    submission_id = c.events("ResultSubmitted", submitted.receipt)[0]["submissionId"]
    challenged = challenger.send(c.challenge(request_id), value=stack.config.challenger_bond)
    game_id = c.events("Challenged", challenged.receipt)[0]["gameId"]
    log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
        Party(Role.SUBMITTER, submitter, liar, "liar"), Party(Role.CHALLENGER, challenger, honest, "honest")]})
    outcome = log.outcomes[game_id]
    assert outcome.phase is Phase.CHALLENGER_WON and not log.rejections and outcome.depth == 3
    assert outcome.openings == (0, 7, 4)
    assert c.get_submission(submission_id).status is SubmissionStatus.SLASHED
