"""Disputes over an MNIST CNN inference on Anvil, through every level: request → graph (one transition per
node) → tile → VM (one transition per MIPS step), decided by one MIPS step executed on chain.

The stack is the real one: TensorCommitment (input/output commitments computed on chain), the three ML link
verifiers and the MIPS step contract. Lies land at an early node, the last node, a middle tile and the first or
last VM step of a tile, each told by a lying submitter and by a lying challenger; an output that is not its own
trace's and forged links at each boundary are rejected with their named errors and the forger loses on time.
Every dispute pays the bonds exactly: the winner's Coordinator credit gains the loser's bond less the burned share
(and, for a winning challenger, its own bond back), the burn address receives that share, the loser gets nothing;
a winning submitter collects the fee and its own bond when the result is finalized.
A randomized test plays RANDOM_DISPUTES more, each fault class in turn at random positions, from a seed printed in
every message (OPML_DISPUTE_SEED reproduces a run).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fixtures_game import (BURN_ADDRESS, ML_STACK_CONFIG, GameStack, advance_time, deploy_ml_game_stack, events,
                           request, send)
from level_disputes import dispute_to_the_end
from web3 import Web3

from opml.game.settlement import burned_share, slash_burned, slash_share
from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.bindings import SubmissionStatus
from opml.chain.tx import TxSender
from opml.game.types import Phase, Role, Step
from opml.levels.commitments import ModelCommitment
from opml.levels.faults import Fault, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.levels.scenarios import FAULT_KINDS, draw_fault
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT
from opml.stacks.driver import GameDriver, Party, anvil_warp, chain_time
from opml.stacks.ml import deploy_ml_stack

MODELS = REPO_ROOT / "models"
CONFIG = ML_STACK_CONFIG


# -- the oracle: what ends a dispute whose liar cannot carry its lie down to a MIPS step ------------------------
REJECTIONS = {
    ForgeOutput: "LinkProofInvalid(OutputNotInEndState)",
    ForgeInput: "LinkProofInvalid(AnchorMismatch)",
    ForgeGraphLink: "LinkProofInvalid(TileEndMismatch)",
    ForgeTileLink: "LinkProofInvalid(OutputRootMismatch)",
}


def expected_rejection(fault: Fault, commitment: ModelCommitment) -> tuple[str, int] | None:
    """(`LinkProofInvalid(Inner)`, level) of the opening that rejects a lying submitter's forged link; None for a
    WrongOutput, which the liar carries consistently down to one MIPS step. A forged output of the node that writes
    the model output already contradicts the submitted output, at the request → graph link."""
    if isinstance(fault, WrongOutput):
        return None
    if isinstance(fault, (ForgeGraphLink, ForgeTileLink)) and _writes_model_output(commitment, fault.node):
        return REJECTIONS[ForgeOutput], 0
    return REJECTIONS[type(fault)], boundary_level(fault)


def _writes_model_output(commitment: ModelCommitment, node: int) -> bool:
    return commitment.model.nodes[node].output == commitment.output_slot


def boundary_level(fault: Fault) -> int:
    """The game level a forged link of this fault would open (0 graph, 1 tile, 2 VM)."""
    return {ForgeOutput: 0, ForgeInput: 0, ForgeGraphLink: 1, ForgeTileLink: 2}[type(fault)]


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
    """The game stack with the ML levels (TensorCommitment, the three link verifiers, MIPS) and the CNN registered."""
    yield deploy_ml_game_stack(w3, commitment, "file://models/mnist_cnn.opml", CONFIG)


@dataclass(frozen=True)
class _Holdings:
    """The dispute parties' Coordinator credits, the burn address's ether and the coordinator's burned total."""

    submitter: int
    challenger: int
    burn_address: int
    burned_total: int


def _holdings(stack: GameStack) -> _Holdings:
    c = stack.coordinator.functions
    return _Holdings(c.balanceOf(stack.submitter).call(), c.balanceOf(stack.challenger).call(),
                     stack.w3.eth.get_balance(BURN_ADDRESS), c.totalBurned().call())


def _check_bonds(stack: GameStack, before: _Holdings, played, liar: Role, why: str) -> None:  # noqa: ANN001
    """The game's settlement paid exactly: a winning submitter's credit gained the challenger's bond less `burn_bps`
    of it; a winning challenger (the slash's one claimant) its own bond back and the slash reward share, the rest of
    the submitter's bond burned; the burn address received the burned part, the loser nothing. A winning
    submitter's own bond stays bonded until the result is finalized, which then credits it the fee and the bond."""
    cfg = stack.config
    if liar is Role.SUBMITTER:
        burn = slash_burned(cfg.submitter_bond, 1)
        won = cfg.challenger_bond + slash_share(cfg.submitter_bond, 1)
    else:
        burn = burned_share(cfg.challenger_bond, cfg.burn_bps)
        won = cfg.challenger_bond - burn
    after = _holdings(stack)
    gains = {Role.SUBMITTER: after.submitter - before.submitter, Role.CHALLENGER: after.challenger - before.challenger}
    assert burn > 0 and gains == {liar: 0, liar.opponent: won}, f"{why}: {gains}"
    assert after.burn_address - before.burn_address == burn == after.burned_total - before.burned_total, why
    if liar is Role.SUBMITTER:
        return
    advance_time(stack.w3, cfg.challenge_window + 1)
    send(stack, stack.coordinator.functions.finalize(played.final.request_id), stack.other)
    finalized = stack.coordinator.functions.balanceOf(stack.submitter).call() - after.submitter
    assert finalized == cfg.model_fee + cfg.submitter_bond, why
    assert stack.coordinator.functions.balanceOf(stack.challenger).call() == before.challenger, why


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


def _openings(stack: GameStack, game_id: int) -> tuple[int, ...]:
    logs = stack.game.events.LevelOpened().get_logs(from_block=0, argument_filters={"gameId": game_id})
    return tuple(log["args"]["parentIndex"] for log in sorted(logs, key=lambda log: log["args"]["level"]))


def _tile_of(commitment: ModelCommitment, node: int, element: int) -> int:
    return element // commitment.nodes[node].tile_elems


def _check_outcome(stack: GameStack, played, commitment: ModelCommitment, honest: RequestLevel,  # noqa: ANN001
                   fault, liar: Role, exact_step: bool, why: str) -> None:
    """The honest side won. A consistent lie (WrongOutput) was decided by the MIPS step executed on chain at the
    lie's node, tile and (with `exact_step`) VM step; a forged link is rejected with its named error when the
    submitter forges it, and the forger loses on time (nothing is behind its roots, so no MIPS step is played)."""
    winner = Phase.SUBMITTER_WON if liar is Role.CHALLENGER else Phase.CHALLENGER_WON
    reasons = _rejection_reasons(stack, played)
    assert played.final.phase is winner, f"{why}: {played.final}, rejected {reasons}"
    (resolved,) = events(stack.game.events.GameResolved, played.receipts[-1])
    openings = _openings(stack, played.final.game_id)
    if isinstance(fault, WrongOutput):
        assert not reasons, why
        assert openings == (0, fault.node, _tile_of(commitment, fault.node, fault.element)), why
        assert not resolved["byTimeout"], why
        vm = honest.graph.tile_level(fault.node).vm_level(openings[2])
        lie_at = vm.final_step if fault.vm_step is None else fault.vm_step
        if exact_step:
            assert (played.final.lo, played.final.hi) == (lie_at - 1, lie_at), why
        else:  # the liar's states may equal the honest ones for a while after the lie (a value held transiently)
            assert played.final.hi >= lie_at, why
        _assert_decided_by_step(stack, played, vm.root_at, winner)
        return
    if isinstance(fault, ForgeInput) and liar is Role.CHALLENGER and not resolved["byTimeout"]:
        # the liar disputes the chain's own start: it holds none of the honest roots from S_0 of the graph level
        # on, so it narrows the game to the first VM step of a tile of the input's first reader, which the honest
        # submitter executes from the chain's agreed start
        assert not reasons and openings[:2] == (0, 0), why
        assert (played.final.lo, played.final.hi) == (0, 1), why
        vm = honest.graph.tile_level(0).vm_level(openings[2])
        _assert_decided_by_step(stack, played, vm.root_at, winner)
        return
    assert resolved["byTimeout"], f"{why}: a forger loses on time"
    assert not any(isinstance(a, Step) for a in played.actions), why
    if liar is Role.SUBMITTER:
        reason, level = expected_rejection(fault, commitment)
        assert reasons[:1] == [reason], why
        assert played.final.depth == level, why
    else:  # the honest submitter opens the level below the forged root; the liar agrees with all of it, and stalls
        assert not reasons, why
        assert played.final.depth == boundary_level(fault) + 1 or isinstance(fault, ForgeInput), why


CASES = {
    "early-node-first-step": WrongOutput(0, 5, vm_step=1),
    "last-node-exit-step": WrongOutput(8, 9, vm_step=None),
    "middle-tile-first-step": WrongOutput(3, 1600, vm_step=1),   # tile 8 of 16 of the second convolution
    "middle-tile-last-step": WrongOutput(3, 1600, vm_step=None),
    "middle-of-a-run": WrongOutput(1, 3000, vm_step=12_345),
    "output-only": ForgeOutput(),                                 # output ≠ its own committed graph end
    "forged-request-graph-link": ForgeInput(0),
    "forged-graph-tile-link": ForgeGraphLink(2),
    "forged-tile-vm-link": ForgeTileLink(1, 3),
    "forged-link-of-the-output-node": ForgeGraphLink(8),       # contradicts the submitted output already
}


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("liar", [Role.SUBMITTER, Role.CHALLENGER], ids=["lying-submitter", "lying-challenger"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_liar_loses_its_bond(stack, commitment, honest, digit, case: str, liar: Role) -> None:
    fault = CASES[case]
    lying = LyingRequestLevel(commitment, digit, {fault})
    why = f"{case} by the {liar.name.lower()}"
    before = _holdings(stack)
    played = dispute_to_the_end(stack, lying, honest) if liar is Role.SUBMITTER else dispute_to_the_end(stack, honest, lying)
    _check_outcome(stack, played, commitment, honest, fault, liar, True, why)
    submission = stack.coordinator.functions.getSubmission(played.final.submission_id).call()
    slashed = SubmissionStatus(submission[6]) is SubmissionStatus.SLASHED
    assert slashed == (liar is Role.SUBMITTER)  # a liar submitter's bond is gone; a liar challenger's goes to it
    assert stack.coordinator.functions.getChallenge(played.final.game_id).call()[2]  # settled
    _check_bonds(stack, before, played, liar, why)


def _run_seed() -> int:
    """OPML_DISPUTE_SEED if set; else one seed per run, the same in every xdist worker (from the run's id)."""
    if os.environ.get("OPML_DISPUTE_SEED"):
        return int(os.environ["OPML_DISPUTE_SEED"])
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return int(run_id[:8], 16) if run_id else random.SystemRandom().randrange(1 << 32)


SEED = _run_seed()
RANDOM_DISPUTES = 28  # four of each fault class


@pytest.mark.usefixtures("isolated_chain")
@pytest.mark.parametrize("index", range(RANDOM_DISPUTES))
def test_randomized_disputes_the_honest_side_wins(stack, commitment, honest, digit, index: int) -> None:
    rng = random.Random(f"{SEED}:{index}")
    kind = FAULT_KINDS[index % len(FAULT_KINDS)]
    fault = draw_fault(kind, honest, rng)
    liar = rng.choice([Role.SUBMITTER, Role.CHALLENGER])
    why = f"OPML_DISPUTE_SEED={SEED} dispute {index}: {kind} {fault} by the {liar.name.lower()}"
    print(why)
    lying = LyingRequestLevel(commitment, digit, {fault})
    before = _holdings(stack)
    played = dispute_to_the_end(stack, lying, honest) if liar is Role.SUBMITTER else dispute_to_the_end(stack, honest, lying)
    _check_outcome(stack, played, commitment, honest, fault, liar, False, why)
    _check_bonds(stack, before, played, liar, why)


def test_node_driver_plays_a_dispute_on_the_deployed_ml_stack(w3, contracts_built, commitment, honest, digit,
                                                              isolated_chain) -> None:
    """The daemons' path: `deploy_ml_stack`, signed transactions (TxSender) and the game driver over the bindings;
    the liar at the last node's exit step loses on the MIPS step."""
    stack = deploy_ml_stack(w3)
    model_id = stack.register(commitment)
    errors = stack.bindings.errors()
    requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
    liar = LyingRequestLevel(commitment, digit, {WrongOutput(7, 4, vm_step=None)})
    c = stack.bindings.coordinator
    credits_before = {sender.address: c.balance_of(sender.address) for sender in (submitter, challenger)}
    burn_before = w3.eth.get_balance(BURN_ADDRESS)
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
    cfg = stack.config
    burn = slash_burned(cfg.submitter_bond, 1)
    gains = {address: c.balance_of(address) - credit for address, credit in credits_before.items()}
    assert gains == {submitter.address: 0, challenger.address: cfg.challenger_bond + slash_share(cfg.submitter_bond, 1)}
    assert w3.eth.get_balance(BURN_ADDRESS) - burn_before == burn > 0
