"""Fault classes of a generation dispute, by where the lie sits, and a random fault of each class (the tests, the
benchmarks, the demos):

  token       a wrong sampled token at a random decode step (WrongToken)
  node        a wrong output element at a random node of a random step, from the first or the last VM step
  tile        a wrong output element in the middle tile of a random node of a random step
  vm          a wrong output element at a random VM step of a random tile of a random node of a random step
  link-token  the request → token link is forged: a trace of an input the request did not carry (ForgeInput)
              or an output that is not the trace's (ForgeOutput)
  link-graph  the token → graph link is forged: a token state with no decode step behind it (ForgeTokenLink)
  link-tile   the graph → tile link is forged: a cache output with no tile trace behind it (ForgeGraphLink)
  link-vm     the tile → VM link is forged: a cache output's tile states with no VM run behind them (ForgeTileLink)

Value lies are placed where they change the step's outputs (its sampled token or a cache), so the liar's token
state after the step differs from the honest one and the dispute narrows to that step; forged graph and tile links
sit at the nodes that write the caches. `expected_rejection` names the opening that refuses a lying submitter's
forged link (docs/levels.md "Generation faults").
"""

from __future__ import annotations

import random

import numpy as np

from .faults import FaultError, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput, believed_values
from .generation_lies import ForgeTokenLink, GenerationFault, InStep, WrongToken
from .token_level import GenerationParty

GENERATION_FAULT_KINDS = ("token", "node", "tile", "vm", "link-token", "link-graph", "link-tile", "link-vm")
DELTAS = (-3, 1, 7)
MAX_DRAWS = 64

REJECTIONS = {
    ForgeOutput: ("OutputNotInEndState", 0),
    ForgeInput: ("AnchorMismatch", 0),
    ForgeTokenLink: ("NextStateMismatch", 1),
    ForgeGraphLink: ("TileEndMismatch", 2),
    ForgeTileLink: ("OutputRootMismatch", 3),
}


def expected_rejection(fault: GenerationFault) -> tuple[str, int] | None:
    """(the link verifier's error, the game level whose opening raises it) for a lying submitter's forged link;
    None for a value lie, which the liar carries down to one MIPS step."""
    inner = fault.fault if isinstance(fault, InStep) else fault
    return REJECTIONS.get(type(inner))


def draw_generation_fault(kind: str, honest: GenerationParty, rng: random.Random) -> GenerationFault:
    """A fault of class `kind` at a position drawn from `rng` (`honest` measures what a lie changes and the VM
    runs a step is drawn from). FaultError for an unknown kind."""
    c, level = honest.commitment, honest.tokens_level
    step = rng.randrange(level.length)
    cache_writers = [k for k, node in enumerate(c.model.nodes) if node.output in c.cache_out_slots]
    match kind:
        case "token":
            sampled = level.state_at(step + 1).last_token
            other = (sampled + rng.randrange(1, c.config.vocab)) % c.config.vocab
            return WrongToken(step, rng.choice([None, other]))
        case "node" | "tile" | "vm":
            return _visible_value_lie(kind, honest, rng)
        case "link-token":
            return rng.choice([ForgeOutput(), ForgeInput(rng.randrange(len(honest.request.prompt)))])
        case "link-graph":
            return ForgeTokenLink(step)
        case "link-tile":
            return InStep(step, ForgeGraphLink(rng.choice(cache_writers)))
        case "link-vm":
            node = rng.choice(cache_writers)
            return InStep(step, ForgeTileLink(node, rng.randrange(c.nodes[node].plan.tile_count)))
    raise FaultError(f"unknown fault class {kind!r}; one of {', '.join(GENERATION_FAULT_KINDS)}")


def _visible_value_lie(kind: str, honest: GenerationParty, rng: random.Random) -> InStep:
    """A WrongOutput of class `kind` at a random step and node whose lie reaches the step's outputs."""
    c, level = honest.commitment, honest.tokens_level
    for _ in range(MAX_DRAWS):
        step, node = rng.randrange(level.length), rng.randrange(len(c.nodes))
        plan = c.nodes[node].plan
        tile = plan.tile_count // 2 if kind == "tile" else rng.randrange(plan.tile_count)
        first, end = plan.tile(tile)
        if kind == "vm":
            vm_step = rng.randint(1, level.graph_level(step).tile_level(node).vm_level(tile).final_step)
        else:
            vm_step = rng.choice([1, None])
        lie = WrongOutput(node, rng.randrange(first, end), rng.choice(DELTAS), vm_step)
        if _changes_outputs(honest, step, lie):
            return InStep(step, lie)
    raise FaultError(f"no {kind} lie reaching a step's outputs in {MAX_DRAWS} draws")


def _changes_outputs(honest: GenerationParty, step: int, lie: WrongOutput) -> bool:
    """Whether decode step `step` computed with `lie` gives another sampled token or cache than the honest one."""
    c = honest.commitment
    inputs = honest.tokens_level.generation.steps[step].inputs
    try:
        lying = believed_values(c.model, inputs, {lie})
    except FaultError:
        return False
    honest_values = honest.tokens_level.graph_level(step).values
    return any(not np.array_equal(lying[s], honest_values[s]) for s in (c.next_token_slot, *c.cache_out_slots))
