"""A generation request: its input bytes, the seed the chain fixes from them, and the exact tokens it asks for.

The ``input`` bytes of a generation request (all little-endian)::

    offset 0    u32      maxNewTokens N (≥ 1)
    offset 4    u32      temperature, Q16.16 fixed point (0 = greedy: ArgMax, lowest id on ties)
    offset 8    u64      salt (chosen by the requester)
    offset 16   u32 × P  prompt token ids (P ≥ 1; BOS first by convention)

``seed`` = the first 8 bytes, as u64 LE, of keccak256(input bytes), so no submitter chooses it. The output is
exactly N u32 LE token ids: generation never stops early (EOS is a token like any other). Decode step
t = 0 … P + N − 2 feeds x_t at position t (x_t = prompt[t] for t < P, else generated[t − P]); for t ≥ P − 1 its
``next_token`` output is generated[t − P + 1]. Hence P + N − 1 ≤ ctx.

``generate_tokens(llm, request)`` computes those N tokens natively: the result every honest node reproduces.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from opml.hashing import keccak
from opml.llm.graph import sampling_words
from opml.llm.llmfile import LLMModel
from opml.llm.runtime import IntLlama
from opml.ml.errors import InputError

if TYPE_CHECKING:
    from opml.llm.fast import FastLlama

HEADER = struct.Struct("<IIQ")  # maxNewTokens, temperature Q16.16, salt
TOKEN_BYTES = 4
U32, U64 = (1 << 32) - 1, (1 << 64) - 1


@dataclass(frozen=True)
class GenerationRequest:
    """What a requester asks for: N new tokens after ``prompt`` at a Q16.16 temperature, salted by ``salt``."""

    prompt: tuple[int, ...]
    max_new_tokens: int
    temperature_q16: int
    salt: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt", tuple(int(t) for t in self.prompt))
        if not self.prompt:
            raise InputError("generation request: the prompt is empty (at least one token, BOS first)")
        if not all(0 <= t <= U32 for t in self.prompt):
            raise InputError("generation request: prompt token ids must be u32")
        if not 1 <= self.max_new_tokens <= U32:
            raise InputError(f"generation request: maxNewTokens must be 1 … 2^32 − 1, got {self.max_new_tokens}")
        if not 0 <= self.temperature_q16 <= U32:
            raise InputError(f"generation request: temperature Q16.16 must be a u32, got {self.temperature_q16}")
        if not 0 <= self.salt <= U64:
            raise InputError(f"generation request: salt must be a u64, got {self.salt}")

    def encode(self) -> bytes:
        """The request's ``input`` bytes (the layout of this module's docstring)."""
        head = HEADER.pack(self.max_new_tokens, self.temperature_q16, self.salt)
        return head + np.asarray(self.prompt, dtype="<u4").tobytes()

    @classmethod
    def decode(cls, data: bytes, ctx: int, vocab: int) -> GenerationRequest:
        """The request ``data`` encodes for a model of context ``ctx`` and ``vocab`` tokens; one-line InputError
        for a bad layout (too short, ragged, empty prompt, N = 0, P + N − 1 > ctx, a token id ≥ vocab)."""
        data = bytes(data)
        if len(data) < HEADER.size:
            raise InputError(f"generation request is {len(data)} bytes; the header alone is {HEADER.size}")
        if len(data) % TOKEN_BYTES:
            raise InputError(f"generation request is {len(data)} bytes, not a whole number of u32 prompt tokens")
        n, temperature, salt = HEADER.unpack_from(data)
        prompt = np.frombuffer(data, dtype="<u4", offset=HEADER.size)
        if prompt.size == 0:
            raise InputError("generation request has an empty prompt (at least one token, BOS first)")
        if n == 0:
            raise InputError("generation request asks for 0 new tokens (maxNewTokens ≥ 1)")
        if prompt.size + n - 1 > ctx:
            raise InputError(f"generation request needs {prompt.size} prompt + {n} new tokens − 1 = "
                             f"{prompt.size + n - 1} positions; the context holds {ctx}")
        bad = np.flatnonzero(prompt >= vocab)
        if bad.size:
            raise InputError(f"generation request: prompt token {int(bad[0])} is id {int(prompt[bad[0]])}, "
                             f"the vocabulary has {vocab}")
        return cls(tuple(int(t) for t in prompt), n, temperature, salt)

    @property
    def seed(self) -> int:
        """The sampler seed: keccak256(input bytes)[0:8] as u64 LE."""
        return int.from_bytes(keccak(self.encode())[:8], "little")

    @property
    def steps(self) -> int:
        """The number of decode steps, P + N − 1."""
        return len(self.prompt) + self.max_new_tokens - 1

    def sampling_words(self) -> np.ndarray:
        """The decode-step graph's ``sampling`` input int32[4]: (seed low 32 bits, seed high 32 bits,
        temperature Q16.16, 0), each word the bits of the u32 (the same for every step of the request)."""
        return sampling_words(self.seed, self.temperature_q16)


def decode_output(data: bytes, n: int) -> list[int]:
    """The N token ids of a generation's output bytes; InputError unless it is exactly N u32 LE."""
    if len(data) != n * TOKEN_BYTES:
        raise InputError(f"generation output is {len(data)} bytes, {n} tokens take {n * TOKEN_BYTES}")
    return [int(t) for t in np.frombuffer(bytes(data), dtype="<u4")]


def encode_output(tokens: list[int]) -> bytes:
    """A generation's output bytes: the token ids as u32 LE."""
    return np.asarray(tokens, dtype="<u4").tobytes()


def generate_tokens(llm: LLMModel, request: GenerationRequest, model: IntLlama | FastLlama | None = None) -> list[int]:
    """The request's N output token ids: decode steps t = 0 … P + N − 2 with the request's sampling words, the
    prompt fed first (one batch through the fast path) and each next_token fed back; InputError for a request
    the model cannot take. ``model`` (reset here) picks the engine: the fast decoder by default, ``IntLlama(llm)``
    for the reference (the same bits)."""
    from opml.llm.fast import FastLlama  # numba loads here, not for the codec's users

    GenerationRequest.decode(request.encode(), llm.config.ctx, llm.config.vocab)  # InputError unless it fits
    model = FastLlama(llm) if model is None else model
    model.reset()
    words = request.sampling_words()
    prompt = list(request.prompt)
    if isinstance(model, FastLlama):
        out = model.decode_prompt(prompt, 0, words)
    else:
        for position, token in enumerate(prompt):
            out = model.decode(token, position, words)
    tokens = [out.next_token]
    for position in range(len(prompt), request.steps):
        tokens.append(model.decode(tokens[-1], position, words).next_token)
    return tokens
