"""Byte-level BPE tokenizer as llama.cpp stores it for ``tokenizer.ggml.model = "gpt2"``.

Tokens are strings over GPT-2's byte alphabet (each byte 0..255 mapped to one printable code point), merges are
``"left right"`` pairs applied by rank, and the text is first split by GPT-2's pre-tokenizer pattern (contractions,
runs of letters, digits or punctuation with an optional leading space, and whitespace). Encoding is a pure function
of (tokens, merges, text): ``decode(encode(text)) == text`` for every string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# GPT-2's pre-tokenizer: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# Python's `re` has no \p{...}; {L} and {N} below are filled with explicit classes of the Unicode letters and
# numbers (general categories L* and N*), built once from unicodedata. Plain ASCII text needs only [A-Za-z]/[0-9].
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^\s{L}{N}]+|\s+(?!\S)|\s+"""
PRETOKENIZE_ASCII = re.compile(GPT2_PATTERN.format(L="A-Za-z", N="0-9"))


def _category_class(prefix: str) -> str:
    """A regex character class body listing every code point whose Unicode general category starts with prefix."""
    parts, start, prev = [], None, None
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)).startswith(prefix):
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
            start = None
    return "".join(parts)


@lru_cache(maxsize=1)
def _unicode_pattern() -> re.Pattern:
    return re.compile(GPT2_PATTERN.format(L=_category_class("L"), N=_category_class("N")))


TOKEN_NORMAL = 1
TOKEN_CONTROL = 3


@lru_cache(maxsize=1)
def byte_alphabet() -> tuple[str, ...]:
    """The code point that stands for each byte: printable Latin-1 bytes for themselves, the rest from U+0100 on."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out: list[str] = []
    extra = 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return tuple(out)


def bytes_to_symbols(data: bytes) -> str:
    alphabet = byte_alphabet()
    return "".join(alphabet[b] for b in data)


@lru_cache(maxsize=1)
def _symbol_to_byte() -> dict[str, int]:
    return {s: b for b, s in enumerate(byte_alphabet())}


def symbols_to_bytes(symbols: str) -> bytes:
    table = _symbol_to_byte()
    return bytes(table[s] for s in symbols)


def pretokenize(text: str) -> list[str]:
    """GPT-2's split of ``text`` into words; concatenating them gives ``text`` back."""
    pattern = PRETOKENIZE_ASCII if text.isascii() else _unicode_pattern()
    return pattern.findall(text)


@dataclass
class Tokenizer:
    """A byte-level BPE vocabulary: token strings, merge list, and the ids of the control tokens."""

    tokens: list[str]
    merges: list[str]
    bos_id: int
    eos_id: int
    token_types: list[int] = field(default_factory=list)
    _ids: dict[str, int] = field(init=False, repr=False)
    _ranks: dict[tuple[str, str], int] = field(init=False, repr=False)
    _cache: dict[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self._ranks = {}
        for rank, merge in enumerate(self.merges):
            left, right = merge.split(" ")
            self._ranks[(left, right)] = rank
        self._cache = {}
        if not self.token_types:
            self.token_types = [TOKEN_NORMAL] * len(self.tokens)
            for i in (self.bos_id, self.eos_id):
                self.token_types[i] = TOKEN_CONTROL
        missing = [s for s in byte_alphabet() if s not in self._ids]
        if missing:
            raise ValueError(f"tokenizer lacks {len(missing)} of the 256 byte tokens")

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def _bpe(self, word: str) -> tuple[int, ...]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        parts = list(bytes_to_symbols(word.encode("utf-8")))
        while len(parts) > 1:
            best, best_rank = -1, None
            for i in range(len(parts) - 1):
                rank = self._ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        ids = tuple(self._ids[p] for p in parts)
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str, *, bos: bool = False) -> list[int]:
        """Token ids of ``text`` (control tokens are never produced from text), BOS first when asked."""
        out = [self.bos_id] if bos else []
        for word in pretokenize(text):
            out.extend(self._bpe(word))
        return out

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for (empty for control tokens)."""
        if self.token_types[token_id] == TOKEN_CONTROL:
            return b""
        return symbols_to_bytes(self.tokens[token_id])

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; byte sequences cut inside a UTF-8 character decode with U+FFFD."""
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")
