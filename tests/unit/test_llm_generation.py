"""The generation request codec: the byte layout, the seed fixed from the bytes, the graph's sampling words, and
one clear error for every bad layout."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opml.hashing import keccak
from opml.llm.generation import GenerationRequest, decode_output, encode_output, sampling_words
from opml.ml.errors import InputError

CTX, VOCAB = 16, 100

requests = st.builds(
    GenerationRequest,
    prompt=st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=8).map(tuple),
    max_new_tokens=st.integers(1, 8),
    temperature_q16=st.integers(0, 2**32 - 1),
    salt=st.integers(0, 2**64 - 1),
)


def test_layout_is_the_documented_little_endian_fields():
    req = GenerationRequest((1, 300, 7), max_new_tokens=5, temperature_q16=0x0000_C000, salt=0x0102030405060708)
    data = req.encode()
    assert data[:16] == struct.pack("<IIQ", 5, 0xC000, 0x0102030405060708)
    assert data[16:] == struct.pack("<III", 1, 300, 7)
    assert req.steps == 3 + 5 - 1


@settings(max_examples=60, deadline=None)
@given(requests)
def test_decode_inverts_encode(req):
    assert GenerationRequest.decode(req.encode(), CTX, VOCAB) == req


@settings(max_examples=30, deadline=None)
@given(requests)
def test_seed_is_keccak_of_the_bytes_and_the_sampling_words_carry_it(req):
    seed = int.from_bytes(keccak(req.encode())[:8], "little")
    assert req.seed == seed
    words = req.sampling_words()
    assert words.dtype == np.int32 and words.shape == (4,)
    u = words.view(np.uint32)
    assert int(u[0]) | int(u[1]) << 32 == seed
    assert int(u[2]) == req.temperature_q16 and int(u[3]) == 0


def test_the_salt_changes_the_seed():
    a = GenerationRequest((1, 2), 4, 0, salt=0)
    b = GenerationRequest((1, 2), 4, 0, salt=1)
    assert a.seed != b.seed


def test_sampling_words_wrap_high_bits_into_int32():
    words = sampling_words(0xFFFF_FFFF_8000_0001, 0xFFFF_FFFF)
    assert words.tolist() == [-2147483647, -1, -1, 0]


def _raw(n: int, temperature: int, salt: int, prompt: list[int]) -> bytes:
    return struct.pack("<IIQ", n, temperature, salt) + struct.pack(f"<{len(prompt)}I", *prompt)


@pytest.mark.parametrize("data, words", [
    (b"\x01\x00\x00", "the header alone is 16"),
    (_raw(1, 0, 0, [1]) + b"\x00\x00", "not a whole number of u32"),
    (_raw(1, 0, 0, []), "empty prompt"),
    (_raw(0, 0, 0, [1, 2]), "0 new tokens"),
    (_raw(CTX, 0, 0, [1, 2]), f"the context holds {CTX}"),
    (_raw(2, 0, 0, [1, VOCAB, 3]), f"prompt token 1 is id {VOCAB}, the vocabulary has {VOCAB}"),
    (_raw(2, 0, 0, [1, 2**32 - 1]), "the vocabulary has"),
])
def test_bad_layouts_are_one_line_errors(data, words):
    with pytest.raises(InputError) as err:
        GenerationRequest.decode(data, CTX, VOCAB)
    message = str(err.value)
    assert words in message and "\n" not in message


def test_the_longest_request_fills_the_context_exactly():
    req = GenerationRequest(tuple(range(1, 5)), max_new_tokens=CTX - 3, temperature_q16=0, salt=9)
    assert req.steps == CTX
    assert GenerationRequest.decode(req.encode(), CTX, VOCAB) == req


@pytest.mark.parametrize("kwargs", [
    dict(prompt=(), max_new_tokens=1, temperature_q16=0, salt=0),
    dict(prompt=(1,), max_new_tokens=0, temperature_q16=0, salt=0),
    dict(prompt=(1,), max_new_tokens=1, temperature_q16=-1, salt=0),
    dict(prompt=(1,), max_new_tokens=1, temperature_q16=0, salt=2**64),
    dict(prompt=(2**32,), max_new_tokens=1, temperature_q16=0, salt=0),
])
def test_out_of_range_fields_are_refused(kwargs):
    with pytest.raises(InputError):
        GenerationRequest(**kwargs)


def test_output_bytes_round_trip_and_have_the_exact_length():
    data = encode_output([0, 5, 2**32 - 1])
    assert len(data) == 12
    assert decode_output(data, 3) == [0, 5, 2**32 - 1]
    with pytest.raises(InputError, match="3 tokens take 12"):
        decode_output(data[:-1], 3)
