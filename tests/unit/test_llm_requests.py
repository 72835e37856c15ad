"""A generation request from the requester's side (`opml.node.llm_requests`), on the shipped Moby-Dick model: the
prompt is tokenized by the model's own tokenizer (BOS first) and encoded as the nodes decode it; what no node could
run is refused with one line; the output becomes the text before the first EOS."""

from __future__ import annotations

import math

import pytest

from opml.llm.generation import GenerationRequest, encode_output
from opml.llm.llmfile import load
from opml.node.deployment import Deployment, ModelSpec
from opml.node.llm_requests import (
    BadGeneration,
    generated_text,
    generated_tokens,
    generation_of,
    generation_request,
    llm_file,
    load_llm,
    temperature_q16,
)
from opml.paths import REPO_ROOT

MOBY = REPO_ROOT / "models" / "llm" / "moby.opml"
ADDRESS = "0x" + "11" * 20


@pytest.fixture(scope="module")
def llm():  # noqa: ANN201 — an LLMModel
    return load(MOBY)


def test_a_prompt_becomes_the_request_the_nodes_decode(llm) -> None:  # noqa: ANN001
    request = generation_request(llm, "Once upon a time", 32, temperature=0.75, salt=9)
    assert request.prompt == tuple(llm.tokenizer.encode("Once upon a time", bos=True))
    assert request.prompt[0] == llm.tokenizer.bos_id
    assert (request.max_new_tokens, request.temperature_q16, request.salt) == (32, 49152, 9)
    assert generation_of(llm, request.encode()) == request
    assert GenerationRequest.decode(request.encode(), llm.config.ctx, llm.config.vocab) == request


def test_a_generation_no_node_could_run_is_refused_in_one_line(llm) -> None:  # noqa: ANN001
    ctx = llm.config.ctx
    with pytest.raises(BadGeneration, match="--max-tokens must be at least 1"):
        generation_request(llm, "Call me Ishmael.", 0)
    prompt = len(llm.tokenizer.encode("Call me Ishmael.", bos=True))
    generation_request(llm, "Call me Ishmael.", ctx - prompt + 1)  # exactly fills the context
    with pytest.raises(BadGeneration, match=f"holds {ctx}") as info:
        generation_request(llm, "Call me Ishmael.", ctx - prompt + 2)
    assert "\n" not in str(info.value)
    with pytest.raises(BadGeneration, match="holds"):
        generation_request(llm, "whale " * 200, 1)
    for bad in (-0.5, math.nan, math.inf, 70_000.0):
        with pytest.raises(BadGeneration, match="temperature"):
            temperature_q16(bad)
    with pytest.raises(BadGeneration, match="salt"):
        generation_request(llm, "x", 1, salt=1 << 64)
    for data in (b"", b"\x01" * 18, GenerationRequest((5,), 1, 0, 0).encode()[:16]):
        with pytest.raises(BadGeneration):
            generation_of(llm, data)
    with pytest.raises(BadGeneration, match="vocabulary"):
        generation_of(llm, GenerationRequest((llm.config.vocab,), 1, 0, 0).encode())


def test_the_output_reads_as_the_text_before_the_first_eos(llm) -> None:  # noqa: ANN001
    eos = llm.tokenizer.eos_id
    words = llm.tokenizer.encode(" the white whale")
    output = encode_output([*words, eos, *llm.tokenizer.encode(" never")])
    assert generated_tokens(llm, output) == words
    assert generated_text(llm, output) == " the white whale"
    assert generated_text(llm, encode_output(words), max_tokens=len(words)) == " the white whale"
    with pytest.raises(BadGeneration, match="bytes"):
        generated_tokens(llm, encode_output(words), max_tokens=len(words) + 1)
    with pytest.raises(BadGeneration):
        generated_tokens(llm, output[:-1])


def test_the_llm_file_comes_from_the_deployment_or_is_refused(tmp_path) -> None:  # noqa: ANN001
    deployment = Deployment(network="t", chain_id=1, start_block=0, coordinator=ADDRESS, game=ADDRESS,
                            registry=ADDRESS, models={1: ModelSpec(kind="llm", model_file="models/llm/moby.opml"),
                                                      2: ModelSpec(kind="ml", model_file="models/mnist_cnn.opml")})
    assert llm_file(deployment, 1) == MOBY
    assert llm_file(deployment, 1, tmp_path) == tmp_path / "models/llm/moby.opml"
    with pytest.raises(BadGeneration, match="not an LLM"):
        llm_file(deployment, 2)
    with pytest.raises(BadGeneration, match="--llm FILE"):
        llm_file(deployment, 3)
    with pytest.raises(BadGeneration, match="does not exist"):
        load_llm(tmp_path / "none.opml")
    with pytest.raises(BadGeneration, match="is not an LLM file"):
        load_llm(REPO_ROOT / "models" / "mnist_cnn.opml")
