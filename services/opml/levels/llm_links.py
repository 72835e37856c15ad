"""The link proofs of a generation's two upper levels (docs/levels.md "Generation requests"), encoded as the
verifier contracts decode them, and the same checks in Python (`verify`: (subStart, subContext) or LinkError with
the contract's error name). Below them a decode step's graph level is opened by GraphTileLink and TileVmLink as
for any model (`opml.levels.links`).

  RequestTokenProof  request → token    contracts/levels/RequestTokenLink.sol
  TokenGraphProof    token → graph      contracts/levels/TokenGraphLink.sol
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eth_abi import encode

from opml.merkle import fold

from .abi_struct import AbiStruct, Bytes, Bytes32, Bytes32Array, Uint
from .commitments import EMPTY_TENSOR, anchor_of, graph_context_of, tensor_commitment
from .links import LinkError, check_slot_proof
from .llm_commitment import LlmGraph, TokenState, append_token, input_commitment, sampling_bytes, \
    start_state

HEADER_BYTES = 16
U32 = struct.Struct("<I")


@dataclass(frozen=True)
class GenerationShape:
    """What the links read from a request's input bytes: the prompt and the number of new tokens."""

    prompt: tuple[int, ...]
    new_tokens: int

    @property
    def steps(self) -> int:
        return len(self.prompt) + self.new_tokens - 1

    def token_at(self, step: int, last_token: int) -> int:
        """x_t: the prompt's token while there is one, else the last sampled token."""
        return self.prompt[step] if step < len(self.prompt) else last_token


def generation_shape(data: bytes) -> GenerationShape:
    """The request's prompt and N (its layout was checked on chain when it was made); `MalformedGeneration`."""
    if len(data) < HEADER_BYTES + 4 or len(data) % 4:
        raise LinkError("MalformedGeneration", f"a generation input of {len(data)} bytes")
    prompt = tuple(U32.unpack_from(data, offset)[0] for offset in range(HEADER_BYTES, len(data), 4))
    return GenerationShape(prompt, U32.unpack_from(data, 0)[0])


def _check_anchor(graph: LlmGraph, constants_root: bytes, kernels_root: bytes, data: bytes, anchor: bytes) -> None:
    if anchor_of(graph.hash(), constants_root, kernels_root, input_commitment(data)) != anchor:
        raise LinkError("AnchorMismatch", "the proof's LLM roots and request input do not hash to the anchor")


def _check_cache_count(graph: LlmGraph, *lists: tuple[bytes, ...]) -> None:
    expected = len(graph.cache_slots)
    for got in (len(graph.cache_out_slots), *map(len, lists)):
        if got != expected:
            raise LinkError("CacheCountMismatch", f"{got} cache entries, the graph has {expected} caches")


def u32_tensor(value: int) -> bytes:
    """The tensor commitment of one 32-bit word (a token, a position)."""
    return tensor_commitment(U32.pack(value))


@dataclass(frozen=True)
class RequestTokenProof(AbiStruct):
    graph: LlmGraph
    constants_root: Bytes32
    kernels_root: Bytes32
    input: Bytes
    end_last_token: Uint
    end_caches: Bytes32Array

    def verify(self, context: bytes, index: int, pre: bytes, post: bytes, sub_end: bytes,
               sub_length: int) -> tuple[bytes, bytes]:
        if pre != context:
            raise LinkError("AnchorMismatch", "the agreed root is not the level's anchor")
        _check_anchor(self.graph, self.constants_root, self.kernels_root, self.input, pre)
        shape = generation_shape(self.input)
        if sub_length != shape.steps:
            raise LinkError("TokenLengthMismatch", f"token trace of {sub_length}, the request takes {shape.steps}")
        _check_cache_count(self.graph, self.end_caches)
        end = TokenState(shape.steps, self.end_last_token, self.end_caches, post)
        if end.root() != sub_end:
            raise LinkError("OutputNotInEndState", "the output commitment is not the token trace's generated chain")
        return start_state(len(self.graph.cache_slots)).root(), context


@dataclass(frozen=True)
class TokenGraphProof:
    graph: LlmGraph
    constants_root: bytes
    kernels_root: bytes
    input: bytes
    state: TokenState  # the agreed S_t's preimage (its step is the opened index)
    input_siblings: tuple[tuple[bytes, ...], ...]
    next_token: int
    next_caches: tuple[bytes, ...]
    next_token_siblings: tuple[bytes, ...]
    cache_out_siblings: tuple[tuple[bytes, ...], ...]

    TYPE = (f"({LlmGraph.abi_type()},bytes32,bytes32,bytes,uint256,bytes32[],bytes32,bytes32[][],uint256,bytes32[],"
            "bytes32[],bytes32[][])")

    def encode(self) -> bytes:
        s = self.state
        return encode([self.TYPE], [(self.graph.as_tuple(), self.constants_root, self.kernels_root, self.input,
                                     s.last_token, list(s.caches), s.generated,
                                     [list(x) for x in self.input_siblings], self.next_token,
                                     list(self.next_caches), list(self.next_token_siblings),
                                     [list(x) for x in self.cache_out_siblings])])

    def verify(self, context: bytes, index: int, pre: bytes, post: bytes, sub_end: bytes,
               sub_length: int) -> tuple[bytes, bytes]:
        g = self.graph
        _check_anchor(g, self.constants_root, self.kernels_root, self.input, context)
        shape = generation_shape(self.input)
        if index >= shape.steps:
            raise LinkError("StepOutOfRange", f"decode step {index} of {shape.steps}")
        _check_cache_count(g, self.state.caches, self.next_caches)
        s = self.state
        if TokenState(index, s.last_token, s.caches, s.generated).root() != pre:
            raise LinkError("TokenStateMismatch", "the proof's token state does not hash to the agreed root")
        if sub_length != g.node_count:
            raise LinkError("GraphLengthMismatch", f"graph trace of {sub_length} for {g.node_count} nodes")
        start = self._start(shape.token_at(index, s.last_token), index)
        self._check_end(sub_end)
        generated = append_token(s.generated, self.next_token) if index + 1 >= len(shape.prompt) else s.generated
        if TokenState(index + 1, self.next_token, self.next_caches, generated).root() != post:
            raise LinkError("NextStateMismatch", "the graph's outputs do not give the claimed next token state")
        return start, graph_context_of(g.nodes_root, g.node_count, g.slot_depth, self.kernels_root)

    def _start(self, token: int, step: int) -> bytes:
        """The graph's S_0: the constants tree with the step's inputs placed one by one (each slot empty before)."""
        g = self.graph
        placed = [(g.token_slot, u32_tensor(token)), (g.position_slot, u32_tensor(step)),
                  (g.sampling_slot, tensor_commitment(sampling_bytes(self.input))),
                  *zip(g.cache_slots, self.state.caches)]
        if len(self.input_siblings) != len(placed):
            raise LinkError("InputCountMismatch", f"{len(self.input_siblings)} input paths for {len(placed)} inputs")
        root = self.constants_root
        for (slot, value), siblings in zip(placed, self.input_siblings):
            check_slot_proof(slot, g.slot_depth, list(siblings))
            if fold(EMPTY_TENSOR, slot, siblings) != root:
                raise LinkError("InputSlotNotEmpty", f"slot {slot} is not empty before the step's input goes in")
            root = fold(value, slot, siblings)
        return root

    def _check_end(self, sub_end: bytes) -> None:
        g = self.graph
        if self.next_token >> 32:
            raise LinkError("TokenOutOfRange", f"token {self.next_token} is not a u32")
        check_slot_proof(g.next_token_slot, g.slot_depth, list(self.next_token_siblings))
        if fold(u32_tensor(self.next_token), g.next_token_slot, self.next_token_siblings) != sub_end:
            raise LinkError("NextTokenNotInEndState", "the next token is not in the graph's end state")
        if len(self.cache_out_siblings) != len(g.cache_out_slots):
            raise LinkError("CacheCountMismatch", f"{len(self.cache_out_siblings)} cache paths")
        for i, (slot, value, siblings) in enumerate(zip(g.cache_out_slots, self.next_caches,
                                                        self.cache_out_siblings)):
            check_slot_proof(slot, g.slot_depth, list(siblings))
            if fold(value, slot, siblings) != sub_end:
                raise LinkError("CacheNotInEndState", f"cache output {i} (slot {slot}) is not in the graph's end")
