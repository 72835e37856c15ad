"""The generation protocol's pure parts: the token commitments and state encodings, the fault spec texts a node
reads, and the one-line errors for what cannot be committed or played."""

from __future__ import annotations

import numpy as np
import pytest
from eth_abi import encode

from opml.hashing import keccak
from opml.levels.commitments import EMPTY_TENSOR
from opml.levels.faults import FaultError, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput
from opml.levels.generation_lies import ForgeTokenLink, InStep, WrongToken, parse_generation_fault
from opml.levels.llm_commitment import GENERATED_START, TokenState, append_token, input_commitment, \
    output_commitment, output_tokens, sampling_bytes, start_state
from opml.levels.llm_links import LinkError, generation_shape
from opml.llm.generation import GenerationRequest, encode_output
from opml.ml.errors import InputError

REQUEST = GenerationRequest((1, 5, 9), 4, 52_429, (1 << 64) - 3)


def test_the_output_commitment_is_the_token_chain_and_binds_the_length() -> None:
    tokens = [3, 0, 2047, 0]
    chain = GENERATED_START
    for token in tokens:
        chain = keccak(encode(["bytes32", "uint256"], [chain, token]))
    assert output_commitment(encode_output(tokens)) == chain
    assert output_commitment(encode_output(tokens[:-1])) != chain  # a trailing zero token is not padding
    assert output_tokens(encode_output(tokens)) == tokens
    for bad in (b"", b"\x01\x02\x03", bytes(9)):
        with pytest.raises(InputError):
            output_tokens(bad)


def test_token_states_hash_their_fields() -> None:
    caches = (EMPTY_TENSOR, keccak(b"k"))
    state = TokenState(3, 17, caches, append_token(GENERATED_START, 17))
    expected = keccak(encode(["uint256", "uint256", "bytes32", "bytes32"],
                             [3, 17, keccak(encode(["bytes32[]"], [list(caches)])), state.generated]))
    assert state.root() == expected
    assert start_state(2) == TokenState(0, 0, (EMPTY_TENSOR, EMPTY_TENSOR), bytes(32))
    assert len({TokenState(3, 17, caches, g).root() for g in (bytes(32), state.generated)}) == 2


def test_the_chain_derives_the_sampling_words_from_the_request_alone() -> None:
    data = REQUEST.encode()
    assert input_commitment(data) == keccak(data)
    assert sampling_bytes(data) == REQUEST.sampling_words().astype("<i4").tobytes()
    assert np.frombuffer(sampling_bytes(data)[:8], "<u8")[0] == REQUEST.seed


def test_generation_shape_reads_prompt_and_length() -> None:
    shape = generation_shape(REQUEST.encode())
    assert (shape.prompt, shape.new_tokens, shape.steps) == (REQUEST.prompt, 4, REQUEST.steps)
    assert [shape.token_at(t, 99) for t in range(REQUEST.steps)] == [1, 5, 9, 99, 99, 99]
    for bad in (REQUEST.encode()[:19], REQUEST.encode() + b"\x00"):
        with pytest.raises(LinkError) as caught:
            generation_shape(bad)
        assert caught.value.name == "MalformedGeneration"


@pytest.mark.parametrize("text, fault", [
    ("wrong-token:3", WrongToken(3)),
    ("wrong-token:3:42", WrongToken(3, 42)),
    ("wrong-node:2:17:5", InStep(2, WrongOutput(17, 5, 1, 1))),
    ("wrong-node:2:17:5:-3", InStep(2, WrongOutput(17, 5, -3, 1))),
    ("wrong-node:2:17:5:7:900", InStep(2, WrongOutput(17, 5, 7, 900))),
    ("wrong-node:2:17:5:7:exit", InStep(2, WrongOutput(17, 5, 7, None))),
    ("forge-token-link:4", ForgeTokenLink(4)),
    ("forge-graph-link:1:30", InStep(1, ForgeGraphLink(30))),
    ("forge-tile-link:1:30:2", InStep(1, ForgeTileLink(30, 2))),
    ("forge-output", ForgeOutput()),
    ("forge-input", ForgeInput()),
    ("forge-input:2", ForgeInput(2)),
])
def test_fault_spec_texts(text: str, fault) -> None:  # noqa: ANN001
    assert parse_generation_fault(text) == fault


@pytest.mark.parametrize("text", ["", "wrong-token", "wrong-token:x", "wrong-node:1:2", "forge-output:1",
                                  "forge-tile-link:1:2", "lie:0.3:2", "wrong-token:1:2:3"])
def test_bad_fault_spec_texts_are_one_line_errors(text: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_generation_fault(text)
    assert "\n" not in str(caught.value) and "wrong-token:STEP[:TOKEN]" in str(caught.value)
