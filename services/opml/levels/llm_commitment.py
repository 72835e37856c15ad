"""The commitment of an LLM for generation requests (docs/levels.md "Generation requests"): its decode-step graph
with the graph's named input and output slots bound into the registered graph root, and the token states of a
generation.

- `LlmGraph` = (nodesRoot, nodeCount, slotDepth, tokenSlot, positionSlot, samplingSlot, nextTokenSlot,
  cacheSlots[], cacheOutSlots[], ctx, vocab); graphRoot = keccak256(abi.encode(LlmGraph)). The cache slots are
  listed layer by layer, K before V (`k_cache.0, v_cache.0, k_cache.1, …`), their outputs in the same order.
- inputCommitment of a generation request = keccak256(input bytes) (the layout of `opml.llm.generation`, checked
  on chain by GenerationCommitment); the anchor is the ML one: keccak256(abi.encode(graphRoot, constantsRoot,
  kernelSetRoot, inputCommitment)).
- token state S_t (after t decode steps) = keccak256(abi.encode(uint256 t, uint256 lastToken, bytes32
  cachesRoot, bytes32 generated)): `lastToken` the previous step's `next_token` (0 at t = 0), `cachesRoot` =
  keccak256(abi.encode(bytes32[] the 2·n_layers cache tensor commitments)), `generated` the hash chain of the
  tokens generated so far: G = 0, then G ← keccak256(abi.encode(G, uint256 token)) per generated token.
- output commitment of a generation = the hash chain of its N tokens (so the end state's `generated` IS the
  output commitment, and its length is bound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from eth_abi import encode

from opml.hashing import keccak
from opml.llm.generation import GenerationRequest
from opml.llm.graph import NEXT_TOKEN, POSITION, SAMPLING, TOKEN, k_cache_name, v_cache_name
from opml.llm.llmfile import LLMModel
from opml.ml.errors import InputError

from .abi_struct import AbiStruct, Bytes32, Uint, UintArray
from .commitments import EMPTY_TENSOR, CommitmentError, GraphCommitment, tensor_commitment
from .tiling import DEFAULT_TILING, NodePlan, TilingPolicy, plan_model

GENERATED_START = bytes(32)
TOKEN_BYTES = 4


@dataclass(frozen=True)
class LlmGraph(AbiStruct):
    """What an LLM's graph root says (LlmGraph in LlmLevelsLib.sol); its `hash()` is the graph root."""

    nodes_root: Bytes32
    node_count: Uint
    slot_depth: Uint
    token_slot: Uint
    position_slot: Uint
    sampling_slot: Uint
    next_token_slot: Uint
    cache_slots: UintArray
    cache_out_slots: UintArray
    ctx: Uint
    vocab: Uint


def caches_root(commitments: Sequence[bytes]) -> bytes:
    return keccak(encode(["bytes32[]"], [list(commitments)]))


def append_token(generated: bytes, token: int) -> bytes:
    """The generated-token chain with `token` (a u32) appended."""
    return keccak(encode(["bytes32", "uint256"], [generated, token]))


@dataclass(frozen=True)
class TokenState:
    """S_t's preimage: the step count, the last sampled token, the cache commitments and the generated chain."""

    step: int
    last_token: int
    caches: tuple[bytes, ...]
    generated: bytes

    def root(self) -> bytes:
        return keccak(encode(["uint256", "uint256", "bytes32", "bytes32"],
                             [self.step, self.last_token, caches_root(self.caches), self.generated]))


def start_state(cache_count: int) -> TokenState:
    """S_0: no step taken, empty (all-zero) caches, nothing generated."""
    return TokenState(0, 0, (EMPTY_TENSOR,) * cache_count, GENERATED_START)


def generated_chain(tokens: Sequence[int]) -> bytes:
    chain = GENERATED_START
    for token in tokens:
        chain = append_token(chain, int(token))
    return chain


def output_tokens(output: bytes) -> list[int]:
    """The token ids of a generation's output bytes (u32 LE); InputError for an empty or ragged output."""
    if not output or len(output) % TOKEN_BYTES:
        raise InputError(f"a generation output is a non-empty whole number of u32 tokens, got {len(output)} bytes")
    return [int(t) for t in np.frombuffer(bytes(output), dtype="<u4")]


def output_commitment(output: bytes) -> bytes:
    """The commitment of a generation's output bytes: the chain of its tokens (GenerationCommitment.commitOutput)."""
    return generated_chain(output_tokens(output))


def input_commitment(data: bytes) -> bytes:
    """The commitment of a generation request's input bytes (GenerationCommitment.commitInput)."""
    return keccak(bytes(data))


def sampling_bytes(data: bytes) -> bytes:
    """The bytes of the decode step's `sampling` input for a request: (seed lo, seed hi, temperature, 0) as u32 LE,
    i.e. keccak256(input)[0:8] ‖ input[4:8] ‖ 0⁴ (how TokenGraphLink derives it)."""
    return keccak(bytes(data))[:8] + bytes(data)[4:8] + bytes(4)


def _slots_by_name(model, slots: Sequence[int]) -> dict[str, int]:  # noqa: ANN001
    return {model.tensors[s].name: s for s in slots}


class LlmCommitment(GraphCommitment):
    """Every root the levels commit an LLM to for generation requests: its decode-step graph (with `sampling` in
    and `next_token` out), tiled by `plans`; `input_slots` in the order TokenGraphLink fills them (token, position,
    sampling, then the caches)."""

    def __init__(self, llm: LLMModel, plans: Sequence[NodePlan]) -> None:
        super().__init__(llm.graph, plans)
        model, cfg = llm.graph, llm.config
        ins, outs = _slots_by_name(model, model.inputs), _slots_by_name(model, model.outputs)
        cache_names = [name for i in range(cfg.n_layers) for name in (k_cache_name(i), v_cache_name(i))]
        out_names = [name for i in range(cfg.n_layers) for name in (k_cache_name(i, out=True),
                                                                     v_cache_name(i, out=True))]
        missing = [n for n in (TOKEN, POSITION, SAMPLING, *cache_names) if n not in ins] + \
                  [n for n in (NEXT_TOKEN, *out_names) if n not in outs]
        if missing:
            raise CommitmentError(f"LLM {llm.name!r}: its decode-step graph lacks {', '.join(missing)} (a model "
                                  "for generation requests samples in the graph)")
        self.llm = llm
        self.config = cfg
        self.token_slot, self.position_slot, self.sampling_slot = ins[TOKEN], ins[POSITION], ins[SAMPLING]
        self.next_token_slot = outs[NEXT_TOKEN]
        self.cache_slots = tuple(ins[n] for n in cache_names)
        self.cache_out_slots = tuple(outs[n] for n in out_names)
        self.input_slots = (self.token_slot, self.position_slot, self.sampling_slot, *self.cache_slots)
        if set(self.input_slots) != set(model.inputs):
            raise CommitmentError(f"LLM {llm.name!r}: graph inputs {sorted(model.inputs)} are not the decode step's "
                                  f"{sorted(self.input_slots)}")

    @cached_property
    def graph(self) -> LlmGraph:
        return LlmGraph(self.nodes_root, len(self.nodes), self.slot_depth, self.token_slot, self.position_slot,
                        self.sampling_slot, self.next_token_slot, self.cache_slots, self.cache_out_slots,
                        self.config.ctx, self.config.vocab)

    @cached_property
    def graph_root(self) -> bytes:
        return self.graph.hash()

    def request(self, data: bytes) -> GenerationRequest:
        """The generation request `data` encodes for this model; InputError (one line) for a bad layout."""
        return GenerationRequest.decode(bytes(data), self.config.ctx, self.config.vocab)


def commit_llm(llm: LLMModel, tiling: TilingPolicy = DEFAULT_TILING) -> LlmCommitment:
    """The LLM's commitment with its tiling plan (deterministic: every party derives the same roots),
    measured on the sampled tiles (`plan_model(sampled=True)`: a decode step repeats its layers)."""
    return LlmCommitment(llm, plan_model(llm.graph, tiling=tiling, sampled=True))
