"""The byte-level BPE tokenizer: lossless on any text, merges applied by rank, GPT-2's pre-tokenizer split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from llm_models import tiny_tokenizer

from opml.llm.tokenizer import byte_alphabet, pretokenize


def test_byte_alphabet_is_a_bijection_onto_printable_code_points():
    alphabet = byte_alphabet()
    assert len(set(alphabet)) == 256
    assert alphabet[ord("A")] == "A" and alphabet[ord(" ")] == "Ġ" and alphabet[ord("\n")] == "Ċ"
    assert all(not ch.isspace() for ch in alphabet)


def test_pretokenizer_splits_like_gpt2():
    assert pretokenize("Hello world's 2024 cats!!  ok\n") == ["Hello", " world", "'s", " 2024", " cats", "!!", " ",
                                                              " ok", "\n"]
    assert pretokenize("snake_case") == ["snake", "_", "case"]


def test_merges_apply_by_rank():
    tok = tiny_tokenizer()
    ids = tok.encode(" the and a")
    assert [tok.tokens[i] for i in ids] == ["Ġthe", "Ġand", "Ġa"]
    assert tok.encode("x", bos=True)[0] == tok.bos_id


def test_control_tokens_decode_to_nothing():
    tok = tiny_tokenizer()
    assert tok.decode([tok.bos_id, *tok.encode("hi"), tok.eos_id]) == "hi"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_decode_inverts_encode(text):
    tok = tiny_tokenizer()
    assert tok.decode(tok.encode(text)) == text


def test_pretokenizer_uses_unicode_letter_and_number_categories():
    # '²' and 'Ⅻ' are numbers (No, Nl) though Python calls them alphanumeric; 'é' and 'ß' letters; U+0301 a mark
    assert pretokenize("x² café Ⅻ straße e\u0301") == ["x", "²", " café", " Ⅻ", " straße", " e", "\u0301"]
    assert pretokenize("٣٤ dogs") == ["٣٤", " dogs"]
