"""Randomized generation disputes on the trained model (models/llm/moby.opml) on Anvil, through every level:
request → token (one transition per decode step) → graph (one per node of the step) → tile → VM (one per MIPS
step), every link checked on chain (GenerationCommitment, RequestTokenLink, TokenGraphLink, GraphTileLink,
TileVmLink, MIPS).

RANDOM_DISPUTES disputes per run, every fault class in turn (a wrong token, a wrong value at a node, in a middle
tile, at a VM step, and a forged link at each of the four boundaries) at random positions, told by a lying
submitter and by a lying challenger, on a greedy and a sampled request (P = 3, N = 4). The honest side wins every
one: a value lie by the one MIPS step executed on chain (its computed post-state is the honest party's), a lying
submitter's forged link by the named rejection of its opening (and then on time). The seed is printed in every
message (OPML_DISPUTE_SEED reproduces a run).
"""

from __future__ import annotations

import os
import random

import pytest
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.tx import TxSender
from opml.game.solver import provider_at_depth
from opml.game.types import Role
from opml.levels.generation_lies import generation_party
from opml.levels.generation_scenarios import GENERATION_FAULT_KINDS, draw_generation_fault, expected_rejection
from opml.levels.llm_commitment import LlmCommitment, commit_llm, output_commitment
from opml.levels.token_level import GenerationParty
from opml.llm.generation import GenerationRequest, generate_tokens
from opml.llm.llmfile import load
from opml.paths import REPO_ROOT
from opml.stacks.dispute import DisputeOutcome, Senders, play_dispute
from opml.stacks.llm import LlmStack, deploy_llm_stack

MODEL = REPO_ROOT / "models" / "llm" / "moby.opml"
RANDOM_DISPUTES = 12
SEED = int(os.environ.get("OPML_DISPUTE_SEED", random.randrange(1 << 32)))
TEMPERATURES = (0, 52_429)  # greedy, and 0.8 in Q16.16


@pytest.fixture(scope="module")
def commitment() -> LlmCommitment:
    return commit_llm(load(MODEL))


@pytest.fixture(scope="module")
def requests(commitment: LlmCommitment) -> list[GenerationRequest]:
    prompt = commitment.llm.tokenizer.encode("Call me Ishmael.", bos=True)[:3]
    return [GenerationRequest(tuple(prompt), 4, temperature, salt=11) for temperature in TEMPERATURES]


@pytest.fixture(scope="module")
def honest(commitment: LlmCommitment, requests: list[GenerationRequest]) -> list[GenerationParty]:
    return [generation_party(commitment, r.encode()) for r in requests]


@pytest.fixture(scope="module")
def deployed(w3: Web3, contracts_built: None, commitment: LlmCommitment) -> tuple[LlmStack, int, Senders]:
    stack = deploy_llm_stack(w3)
    errors = stack.bindings.errors()
    return stack, stack.register(commitment), Senders(*(TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3)))


def test_the_honest_trace_is_the_native_generation(commitment, requests, honest) -> None:
    """The tokens a party submits are what native generation gives, and its trace ends in their commitment."""
    for request, party in zip(requests, honest):
        assert party.tokens == generate_tokens(commitment.llm, request)
        level = party.tokens_level
        assert level.length == request.steps == 6
        assert level.state_at(level.length).generated == output_commitment(party.output) == party.root_at(1)


def test_an_honest_submitter_against_an_honest_challenger_wins(deployed, honest) -> None:
    stack, model_id, senders = deployed
    outcome = play_dispute(stack, model_id, honest[0], honest[0], senders)
    assert outcome.winner is Role.SUBMITTER and outcome.by_timeout and outcome.rejections == ()


def _schedule(rng: random.Random) -> list[tuple[str, Role, int]]:
    """(fault class, liar, request) for each dispute: every class in turn, liars alternating (so a second round
    swaps who lies about which class), requests drawn at random."""
    kinds = GENERATION_FAULT_KINDS
    return [(kinds[i % len(kinds)], Role.SUBMITTER if (i + i // len(kinds)) % 2 == 0 else Role.CHALLENGER,
             rng.randrange(len(TEMPERATURES))) for i in range(RANDOM_DISPUTES)]


def test_random_generation_disputes_are_won_by_the_honest_side(deployed, commitment, honest) -> None:
    stack, model_id, senders = deployed
    rng = random.Random(SEED)
    for i, (kind, liar, which) in enumerate(_schedule(rng)):
        truth = honest[which]
        fault = draw_generation_fault(kind, truth, rng)
        lying = generation_party(commitment, truth.input_bytes, {fault})
        submitter, challenger = (lying, truth) if liar is Role.SUBMITTER else (truth, lying)
        outcome = play_dispute(stack, model_id, submitter, challenger, senders)
        why = f"OPML_DISPUTE_SEED={SEED}, dispute {i}: {kind} {fault} told by the {liar.name.lower()}, {outcome}"
        assert outcome.winner is liar.opponent, why
        _check_how_it_ended(outcome, fault, liar, truth, why)


def _check_how_it_ended(outcome: DisputeOutcome, fault, liar: Role, truth: GenerationParty, why: str) -> None:  # noqa: ANN001
    rejected = expected_rejection(fault)
    if rejected is None:  # a value lie: one MIPS step, whose post-state is the honest party's
        assert not outcome.by_timeout and outcome.step is not None and len(outcome.openings) == 4, why
        vm = provider_at_depth(truth, outcome.openings)
        assert outcome.step.computed_post == vm.root_at(outcome.final.hi), why
        assert (outcome.step.claimed_post == outcome.step.computed_post) == (liar is Role.CHALLENGER), why
    elif liar is Role.SUBMITTER:  # its forged link is refused where it opens the level below, then it times out
        error, level = rejected
        assert outcome.by_timeout and f"LinkProofInvalid({error})" in outcome.rejections, why
        assert len(outcome.openings) == level, why
    else:  # the honest submitter's openings all verify
        assert outcome.rejections == (), why
