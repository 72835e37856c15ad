"""The token level's fast path (opml.levels.fast_generation) gives the reference executor's trace: every token
state (sampled token, cache commitments, generated chain) and every step's inputs, honest and around a lying step,
greedy and sampled, on the trained model."""

from __future__ import annotations

import numpy as np
import pytest

from opml.levels.faults import WrongOutput
from opml.levels.generation_lies import lying_step_graph, sample_node
from opml.levels.llm_commitment import LlmCommitment, commit_llm
from opml.levels.token_level import run_generation
from opml.llm.generation import GenerationRequest
from opml.llm.llmfile import load
from opml.paths import REPO_ROOT


@pytest.fixture(scope="module")
def commitment() -> LlmCommitment:
    return commit_llm(load(REPO_ROOT / "models" / "llm" / "moby.opml"))


def _same_generation(a, b) -> None:  # noqa: ANN001
    assert a.tokens == b.tokens
    assert a.states == b.states
    for x, y in zip(a.steps, b.steps):
        assert x.faults == y.faults and set(x.inputs) == set(y.inputs)
        assert all(np.array_equal(x.inputs[s], y.inputs[s]) for s in x.inputs)


@pytest.mark.parametrize("temperature", [0, 52_429])
def test_fast_steps_give_the_reference_trace(commitment: LlmCommitment, temperature: int) -> None:
    request = GenerationRequest((commitment.llm.tokenizer.bos_id, 40, 41, 42), 5, temperature, salt=3)
    data = request.encode()
    _same_generation(run_generation(commitment, data, request),
                     run_generation(commitment, data, request, fast=False))


def test_fast_steps_resume_after_a_lying_step(commitment: LlmCommitment) -> None:
    request = GenerationRequest((commitment.llm.tokenizer.bos_id, 7), 5, 0, salt=0)
    data = request.encode()
    lie = {3: frozenset({WrongOutput(sample_node(commitment), 0, 1, vm_step=None)})}
    fast = run_generation(commitment, data, request, lie, lying_step_graph)
    slow = run_generation(commitment, data, request, lie, lying_step_graph, fast=False)
    _same_generation(fast, slow)
    assert fast.tokens != run_generation(commitment, data, request).tokens
