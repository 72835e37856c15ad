"""The node's LLM backend (`kind: "llm"`) on the shipped Moby-Dick llama: a claim is exactly the reference
generation with the commitments the contracts compute; a lying node's claim differs from the changed token on; a
request no node could run, a fault spec that does not parse and a missing file are one-line BackendErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.levels.llm_commitment import output_commitment
from opml.llm.generation import GenerationRequest, encode_output, generate_tokens
from opml.node.backends import BackendError, RequestInput, build_backends
from opml.node.config import load_config
from opml.node.deployment import Deployment, ModelSpec
from opml.node.llm_backend import LlmBackend
from opml.node.llm_requests import generation_request
from opml.paths import REPO_ROOT

MOBY = REPO_ROOT / "models" / "llm" / "moby.opml"
ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture(scope="module")
def backend() -> LlmBackend:
    return LlmBackend(MOBY)


def ask(data: bytes) -> RequestInput:
    return RequestInput(1, 1, data, b"\0" * 32)


def test_a_claim_is_the_reference_generation(backend: LlmBackend) -> None:
    request = generation_request(backend.llm, "The whale", 3)
    claim = backend.claim(ask(request.encode()))
    assert claim.output == encode_output(generate_tokens(backend.llm, request))
    assert claim.output_commitment == output_commitment(claim.output)
    assert claim.provider.submission() == (claim.output, claim.trace_commitment)
    assert claim.runs_vm and claim.refusal() is None
    assert backend.model_roots() == backend.commitment.roots

    # A node told to change the token of the last decode step submits another last token, the rest unchanged.
    liar = LlmBackend.__new__(LlmBackend)
    liar.__dict__.update(backend.__dict__, faults=frozenset({_fault(f"wrong-token:{request.steps - 1}")}))
    lied = liar.claim(ask(request.encode()))
    assert lied.output[:-4] == claim.output[:-4] and lied.output[-4:] != claim.output[-4:]
    assert lied.trace_commitment != claim.trace_commitment
    liar.faults = frozenset({_fault(f"wrong-token:{request.steps + 5}")})  # past the request's last decode step
    with pytest.raises(BackendError, match="fault does not fit request 1"):
        liar.claim(ask(request.encode()))


def test_a_generation_the_model_cannot_run_is_one_line(backend: LlmBackend) -> None:
    ctx = backend.llm.config.ctx
    for data in (b"", b"\x01" * 18, GenerationRequest((0, 5), ctx, 0, 0).encode(),
                 GenerationRequest((backend.llm.config.vocab,), 1, 0, 0).encode()):
        with pytest.raises(BackendError) as info:
            backend.claim(ask(data))
        assert "\n" not in str(info.value) and str(info.value).startswith("generation")


def test_llm_models_are_built_from_the_deployment_with_clear_errors(tmp_path: Path) -> None:
    def build(spec: ModelSpec, faults: list[str]):  # noqa: ANN202
        deployment = Deployment(network="t", chain_id=31337, start_block=0, coordinator=ADDRESS, game=ADDRESS,
                                registry=ADDRESS, models={1: spec})
        deployment.save(tmp_path / "d.json")
        config = load_config(None, private_key=DEV_PRIVATE_KEYS[2], deployment=tmp_path / "d.json", faults=faults,
                             model_dir=str(tmp_path))
        return build_backends(deployment, config)

    with pytest.raises(BackendError, match="LLM file .* does not exist"):
        build(ModelSpec(kind="llm", model_file="moby.opml"), [])
    (tmp_path / "moby.opml").write_bytes(b"OPMLLLM1 truncated")
    with pytest.raises(BackendError, match="LLM file .*moby.opml"):
        build(ModelSpec(kind="llm", model_file="moby.opml"), [])
    with pytest.raises(BackendError, match="llm model needs model_file"):
        build(ModelSpec(kind="llm"), [])
    with pytest.raises(BackendError, match="generation fault 'wrong-token' is not one of"):
        build(ModelSpec(kind="llm", model_file="moby.opml"), ["wrong-token"])


def _fault(text: str):  # noqa: ANN202 — a generation fault
    from opml.levels.generation_lies import parse_generation_fault

    return parse_generation_fault(text)
