"""The two upper levels of a generation request (docs/levels.md "Generation requests"):

- the request level (`GenerationParty`): one transition from the request's anchor (S_0) to the output commitment
  (S_1), opened into the token level (proof: RequestTokenProof); `submission()` is what a submitter posts;
- the token level (`TokenLevel`): S_t = the token state after t decode steps (`llm_commitment.TokenState`),
  t = 0..P+N−1; transition t is decode step t, opened into that step's graph level (proof: TokenGraphProof),
  below which the ML levels (graph → tile → VM) play unchanged.

The honest trace is computed natively: each decode step is one run of the decode-step graph on the step's inputs,
its `next_token` and cache outputs feeding the next step — by the fast decoder for the steps without faults
(`opml.levels.fast_generation`: the same bits, the caches' commitments updated where a row was written), by the
reference executor for a step with faults and for the whole tensors of a step a dispute opens. A lying party is
built around the honest one from outside (`opml.levels.generation_lies`) through `Generation`'s hooks.

    party = generation_party(commitment, input_bytes)            # honest
    output, trace_commitment = party.submission()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from opml.game.trace import NotLastLevel, RequestTopLevel, StepWitness, TraceProvider, check_root_index, \
    check_transition
from opml.llm.generation import GenerationRequest, encode_output
from opml.progress import track

from .commitments import tensor_commitment
from .fast_generation import FastSteps, step_values
from .faults import Fault
from .graph_level import GraphLevel
from .llm_commitment import LlmCommitment, TokenState, append_token, input_commitment, output_commitment, \
    sampling_bytes, start_state
from .llm_links import RequestTokenProof, TokenGraphProof


@dataclass(frozen=True)
class DecodeStep:
    """One decode step as a party computed it: the graph's inputs by slot, and the ML faults it lies with there."""

    inputs: dict[int, np.ndarray]
    faults: frozenset[Fault] = frozenset()


@dataclass
class Generation:
    """A party's whole generation: every step's inputs, every token state, and the tokens it generated."""

    steps: list[DecodeStep] = field(default_factory=list)
    states: list[TokenState] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def step_inputs(c: LlmCommitment, data: bytes, token: int, step: int,
                caches: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Decode step `step`'s graph inputs by slot (token, position, sampling, caches)."""
    sampling = np.frombuffer(sampling_bytes(data), dtype="<i4").copy()
    return {c.token_slot: np.array([token], np.int32), c.position_slot: np.array([[step]], np.int32),
            c.sampling_slot: sampling, **dict(zip(c.cache_slots, caches))}


def zero_caches(c: LlmCommitment) -> list[np.ndarray]:
    return [np.zeros(c.model.tensors[s].shape, np.int8) for s in c.cache_slots]


def _native(c: LlmCommitment, step: DecodeStep) -> dict[int, np.ndarray]:
    """Every tensor of the step as the reference executor computes it (FullyConnected by the fast kernel)."""
    return step_values(c.model, [step.inputs[s] for s in c.model.inputs])


def honest_step_graph(c: LlmCommitment, step: DecodeStep) -> GraphLevel:
    """The graph level of one decode step as the reference executor computes it."""
    return GraphLevel(c, _native(c, step))


StepGraph = Callable[[LlmCommitment, DecodeStep], GraphLevel]
"""How a party builds the graph level of a decode step (a liar's lays the step's faults over it)."""


def run_generation(c: LlmCommitment, data: bytes, request: GenerationRequest,
                   faults_at: Mapping[int, frozenset[Fault]] | None = None,
                   step_graph: StepGraph = honest_step_graph, fast: bool = True) -> Generation:
    """Every decode step of `request` (input bytes `data`) natively; step t carries the ML faults `faults_at[t]`
    (a lying party, whose `step_graph` lays them over the step) and every later step computes on from what it
    produced. `fast=False`: every step by the reference executor (the same trace, slower)."""
    faults_at = faults_at or {}
    prompt, p = request.prompt, len(request.prompt)
    out = Generation(states=[start_state(len(c.cache_slots))])
    steps = FastSteps(c, data) if fast else None  # honest steps at decoding speed (opml.levels.fast_generation)
    caches = zero_caches(c)
    for t in track(range(request.steps), f"decode steps of {c.llm.name}"):
        state = out.states[-1]
        token_in, faults = prompt[t] if t < p else state.last_token, frozenset(faults_at.get(t, ()))
        if steps is not None and not faults:
            inputs, token, commitments = steps.step(token_in, t)
            step = DecodeStep(inputs)
        else:
            caches = steps.caches_at(t) if steps is not None else caches
            step = DecodeStep(step_inputs(c, data, token_in, t, caches), faults)
            values, commitments = _run_step(c, step, step_graph)
            token = int(values[c.next_token_slot].reshape(-1).view(np.uint32)[0])
            caches = [values[s] for s in c.cache_out_slots]
            steps = steps if steps is not None and steps.resume(t, caches) else None
        generated = state.generated
        if t >= p - 1:
            generated = append_token(generated, token)
            out.tokens.append(token)
        out.steps.append(step)
        out.states.append(TokenState(t + 1, token, tuple(commitments), generated))
    return out


def _run_step(c: LlmCommitment, step: DecodeStep,
              step_graph: StepGraph) -> tuple[dict[int, np.ndarray], list[bytes]]:
    """(every tensor of the step, the cache outputs' commitments as the party's graph end state holds them)."""
    if not step.faults:
        values = _native(c, step)
        return values, [tensor_commitment(values[s]) for s in c.cache_out_slots]
    graph = step_graph(c, step)
    end = graph.commitments_at(graph.length)
    return graph.values, [end[s] for s in c.cache_out_slots]


class TokenLevel(TraceProvider):
    """One party's token trace of a generation; `forged` replaces roots by made-up ones (a lying party)."""

    is_last_level = False

    def __init__(self, commitment: LlmCommitment, data: bytes, generation: Generation,
                 forged: Mapping[int, bytes] | None = None, step_graph: StepGraph = honest_step_graph) -> None:
        self.commitment = commitment
        self.data = bytes(data)
        self.generation = generation
        self.forged = dict(forged or {})
        self.step_graph = step_graph
        self.length = len(generation.steps)
        self._graphs: dict[int, GraphLevel] = {}

    def state_at(self, t: int) -> TokenState:
        check_root_index(self.length, t)
        return self.generation.states[t]

    def root_at(self, t: int) -> bytes:
        return self.forged.get(t) or self.state_at(t).root()

    def step_witness(self, k: int) -> StepWitness:
        raise NotLastLevel(f"decode step {k} opens its graph level")

    def graph_level(self, t: int) -> GraphLevel:
        check_transition(self.length, t)
        if t not in self._graphs:
            self._graphs[t] = self.step_graph(self.commitment, self.generation.steps[t])
        return self._graphs[t]

    def open_next(self, t: int) -> tuple[GraphLevel, bytes]:
        return self.graph_level(t), self.link_proof(t).encode()

    def link_proof(self, t: int) -> TokenGraphProof:
        """The proof that opens decode step t's graph level: the agreed state's preimage, the paths that place the
        step's inputs into the constants tree, and the step's outputs in the graph's end state."""
        c, graph = self.commitment, self.graph_level(t)
        start, end = graph.commitments_at(0), graph.commitments_at(graph.length)
        placed: dict[int, bytes] = dict(c.constant_commitments)
        paths = []
        for slot in c.input_slots:
            paths.append(tuple(c.slot_proof(placed, slot)))
            placed[slot] = start[slot]
        next_token = int(graph.values[c.next_token_slot].reshape(-1).view(np.uint32)[0])
        return TokenGraphProof(
            c.graph, c.constants_root, c.kernels_root, self.data, self.state_at(t), tuple(paths), next_token,
            tuple(end[s] for s in c.cache_out_slots), tuple(c.slot_proof(end, c.next_token_slot)),
            tuple(tuple(c.slot_proof(end, s)) for s in c.cache_out_slots))


class GenerationParty(RequestTopLevel):
    """One party's view of a generation request on a committed LLM (honest; `opml.levels.generation_lies` builds
    the liars by overriding `_computed_input`, `_faults_at`, `_forged_roots`, `step_graph` and `output`)."""

    def __init__(self, commitment: LlmCommitment, input_bytes: bytes) -> None:
        self.commitment = commitment
        self.input_bytes = bytes(input_bytes)
        self.request = commitment.request(self.input_bytes)  # InputError (one line) for a bad layout

    def _computed_input(self) -> bytes:
        """The request input this party computes on: the request's."""
        return self.input_bytes

    def _faults_at(self) -> dict[int, frozenset[Fault]]:
        """The ML faults this party lies with in each decode step: none."""
        return {}

    def _forged_roots(self, generation: Generation) -> dict[int, bytes]:
        """Token roots this party makes up: none."""
        return {}

    step_graph: StepGraph = staticmethod(honest_step_graph)

    @cached_property
    def tokens_level(self) -> TokenLevel:
        data = self._computed_input()
        generation = run_generation(self.commitment, data, self.commitment.request(data), self._faults_at(),
                                    self.step_graph)
        return TokenLevel(self.commitment, data, generation, self._forged_roots(generation), self.step_graph)

    @property
    def tokens(self) -> list[int]:
        """The generated token ids (N of them)."""
        return self.tokens_level.generation.tokens

    @property
    def output(self) -> bytes:
        """The output bytes this party would submit: its tokens as u32 LE."""
        return encode_output(self.tokens)

    def submission(self) -> tuple[bytes, bytes]:
        """(output bytes, traceCommitment = the token trace's end root): the arguments of `Coordinator.submit`."""
        level = self.tokens_level
        return self.output, level.root_at(level.length)

    def root_at(self, i: int) -> bytes:
        check_root_index(1, i)
        if i == 0:
            return self.commitment.anchor(input_commitment(self.tokens_level.data))
        return output_commitment(self.output)

    @property
    def level_below(self) -> TokenLevel:
        return self.tokens_level

    def link_proof(self, k: int) -> RequestTokenProof:
        """The proof that opens the token level (only transition 0 exists)."""
        check_transition(1, k)
        c, level = self.commitment, self.tokens_level
        end = level.state_at(level.length)
        return RequestTokenProof(c.graph, c.constants_root, c.kernels_root, level.data, end.last_token, end.caches)
