"""A lying party of a generation request, built around the honest `GenerationParty` from outside, and the fault
spec texts a node reads (docs/levels.md "Generation faults"). The honest path never passes through here.

  WrongToken(step, token)     decode step `step` samples `token` (default: the honest one + 1) — a wrong value of
      the step graph's Sample node, carried to the last VM step of its tile — and the party generates on from it
  InStep(step, fault)         an ML fault (`opml.levels.faults`: WrongOutput, ForgeGraphLink, ForgeTileLink) in
      decode step `step`'s graph; a value lie is generated on from, a forged commitment carried in the token state
  ForgeTokenLink(step)        the token state after step `step` is made up (no graph run behind it)
  ForgeOutput()               the submitted tokens are not the token trace's (the first one + 1)
  ForgeInput(element)         the trace is computed from a request whose prompt token `element` is off by one

    party = generation_party(commitment, input_bytes, faults)     # honest when `faults` is empty

Spec texts (`parse_generation_fault`): `wrong-token:STEP[:TOKEN]`, `wrong-node:STEP:NODE:ELEMENT[:DELTA[:VM_STEP]]`
(VM_STEP `exit` = the step at which the honest run exits; default 1), `forge-token-link:STEP`,
`forge-graph-link:STEP:NODE`, `forge-tile-link:STEP:NODE:TILE`, `forge-output`, `forge-input[:ELEMENT]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from opml.llm.generation import GenerationRequest, encode_output

from .faults import FaultError, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput, \
    believed_values, forged
from .graph_level import GraphLevel
from .lies import LyingGraphLevel
from .llm_commitment import LlmCommitment
from .token_level import DecodeStep, Generation, GenerationParty, honest_step_graph


@dataclass(frozen=True)
class WrongToken:
    step: int
    token: int | None = None


@dataclass(frozen=True)
class InStep:
    step: int
    fault: WrongOutput | ForgeGraphLink | ForgeTileLink


@dataclass(frozen=True)
class ForgeTokenLink:
    step: int


GenerationFault = WrongToken | InStep | ForgeTokenLink | ForgeOutput | ForgeInput


def sample_node(c: LlmCommitment) -> int:
    """The node that writes the decode step's `next_token`."""
    return next(k for k, node in enumerate(c.model.nodes) if node.output == c.next_token_slot)


def lying_step_graph(c: LlmCommitment, step: DecodeStep) -> GraphLevel:
    """A lying party's graph level of a decode step: the honest graph level of the values it believes (its
    WrongOutputs applied) with its graph and tile lies laid over it (`opml.levels.lies.LyingGraphLevel`)."""
    if not step.faults:
        return honest_step_graph(c, step)
    return LyingGraphLevel(GraphLevel(c, believed_values(c.model, step.inputs, step.faults)), step.faults)


class LyingGenerationParty(GenerationParty):
    """The request level of a party lying as `faults` say."""

    def __init__(self, commitment: LlmCommitment, input_bytes: bytes, faults: Iterable[GenerationFault]) -> None:
        super().__init__(commitment, input_bytes)
        self.faults = frozenset(faults)
        for fault in self.faults:
            step = getattr(fault, "step", 0)
            if not 0 <= step < self.request.steps:
                raise FaultError(f"{fault}: decode step outside 0..{self.request.steps - 1}")

    step_graph = staticmethod(lying_step_graph)

    @cached_property
    def honest(self) -> GenerationParty:
        return GenerationParty(self.commitment, self.input_bytes)

    def _computed_input(self) -> bytes:
        forged_inputs = [f for f in self.faults if isinstance(f, ForgeInput)]
        if not forged_inputs:
            return self.input_bytes
        r = self.request
        prompt = list(r.prompt)
        at = forged_inputs[0].element % len(prompt)
        prompt[at] = (prompt[at] + 1) % self.commitment.config.vocab
        return GenerationRequest(tuple(prompt), r.max_new_tokens, r.temperature_q16, r.salt).encode()

    def _faults_at(self) -> dict[int, frozenset]:
        at: dict[int, set] = {}
        for fault in self.faults:
            if isinstance(fault, InStep):
                at.setdefault(fault.step, set()).add(fault.fault)
            elif isinstance(fault, WrongToken):
                at.setdefault(fault.step, set()).add(self._wrong_token(fault))
        return {step: frozenset(faults) for step, faults in at.items()}

    def _wrong_token(self, fault: WrongToken) -> WrongOutput:
        honest = self.honest.tokens_level.state_at(fault.step + 1).last_token
        delta = 1 if fault.token is None else fault.token - honest
        if delta == 0:
            raise FaultError(f"{fault}: the honest step samples that token")
        return WrongOutput(sample_node(self.commitment), 0, delta, vm_step=None)

    def _forged_roots(self, generation: Generation) -> dict[int, bytes]:
        return {f.step + 1: forged(generation.states[f.step + 1].root())
                for f in self.faults if isinstance(f, ForgeTokenLink)}

    @property
    def output(self) -> bytes:
        tokens = list(self.tokens)
        if ForgeOutput() in self.faults:
            tokens[0] = (tokens[0] + 1) % self.commitment.config.vocab
        return encode_output(tokens)


def generation_party(commitment: LlmCommitment, input_bytes: bytes,
                     faults: Iterable[GenerationFault] = frozenset()) -> GenerationParty:
    """The honest request-level provider of a generation without faults, the lying one with them."""
    faults = frozenset(faults)
    if faults:
        return LyingGenerationParty(commitment, input_bytes, faults)
    return GenerationParty(commitment, input_bytes)


FAULT_SPECS = ("wrong-token:STEP[:TOKEN]", "wrong-node:STEP:NODE:ELEMENT[:DELTA[:VM_STEP]]", "forge-token-link:STEP",
               "forge-graph-link:STEP:NODE", "forge-tile-link:STEP:NODE:TILE", "forge-output",
               "forge-input[:ELEMENT]")


def parse_generation_fault(text: str) -> GenerationFault:
    """The fault a spec text names (the module docstring); FaultError (one line) for anything else."""
    kind, *fields = text.strip().split(":")
    try:
        fault = _fault(kind, fields)
    except ValueError:
        fault = None
    if fault is None:
        raise FaultError(f"generation fault {text!r} is not one of {', '.join(FAULT_SPECS)}")
    return fault


def _fault(kind: str, f: list[str]) -> GenerationFault | None:  # noqa: PLR0911
    n = [int(x) for x in f if x != "exit"]
    match kind, len(f):
        case "wrong-token", 1 | 2:
            return WrongToken(*n)
        case "wrong-node", 3 | 4 | 5:
            vm_step = None if f[-1] == "exit" and len(f) == 5 else (n[4] if len(f) == 5 else 1)
            return InStep(n[0], WrongOutput(n[1], n[2], n[3] if len(f) >= 4 else 1, vm_step))
        case "forge-token-link", 1:
            return ForgeTokenLink(n[0])
        case "forge-graph-link", 2:
            return InStep(n[0], ForgeGraphLink(n[1]))
        case "forge-tile-link", 3:
            return InStep(n[0], ForgeTileLink(n[1], n[2]))
        case "forge-output", 0:
            return ForgeOutput()
        case "forge-input", 0 | 1:
            return ForgeInput(*n)
    return None

