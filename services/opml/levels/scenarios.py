"""Fault classes of an ML dispute, by where the lie sits, and a random fault of each class (tests, demo, bench).

  output      the submitted output is not the output slot of the party's own graph end state (ForgeOutput)
  node        a wrong output element at a random node, from the first or the last VM step of its tile
  tile        a wrong output element in the middle tile of a random node
  vm          a wrong output element at a random VM step of a tile of the middle node
  link-graph  the request → graph link is forged: a graph trace from an input the request did not carry
  link-tile   the graph → tile link is forged: a node output with no tile trace behind it (ForgeGraphLink)
  link-vm     the tile → VM link is forged: tile states with no VM run behind them (ForgeTileLink)

`expected_rejection` names the link error a lying *submitter* meets where its lie cannot be carried down to a
MIPS step; it then loses on time. Every other lie (and every lie of a challenger) is either decided by one MIPS
step or, for a challenger whose forged roots have nothing behind them, lost on time when it agrees with every
root the honest submitter posts.
"""

from __future__ import annotations

import random

from .commitments import ModelCommitment
from .faults import Fault, FaultError, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput
from .request_level import RequestLevel

FAULT_KINDS = ("output", "node", "tile", "vm", "link-graph", "link-tile", "link-vm")
DELTAS = (-3, 1, 7)

_REJECTIONS = {
    ForgeOutput: "LinkProofInvalid(OutputNotInEndState)",
    ForgeInput: "LinkProofInvalid(AnchorMismatch)",
    ForgeGraphLink: "LinkProofInvalid(TileEndMismatch)",
    ForgeTileLink: "LinkProofInvalid(OutputRootMismatch)",
}


def draw_fault(kind: str, honest: RequestLevel, rng: random.Random) -> Fault:
    """A fault of class `kind` at a position drawn from `rng` (`honest` measures the tile runs a VM step is drawn
    from). FaultError for an unknown kind."""
    c = honest.commitment
    node = rng.randrange(len(c.nodes))
    match kind:
        case "output":
            return ForgeOutput()
        case "node":
            return _wrong_output(c, node, rng.randrange(c.nodes[node].plan.tile_count), rng, rng.choice([1, None]))
        case "tile":
            return _wrong_output(c, node, c.nodes[node].plan.tile_count // 2, rng, rng.choice([1, None]))
        case "vm":
            middle = len(c.nodes) // 2
            tile = rng.randrange(c.nodes[middle].plan.tile_count)
            steps = honest.graph.tile_level(middle).vm_level(tile).final_step
            return _wrong_output(c, middle, tile, rng, rng.randint(1, steps))
        case "link-graph":
            return ForgeInput(rng.randrange(c.model.tensor_type(c.input_slot).size))
        case "link-tile":
            return ForgeGraphLink(node)
        case "link-vm":
            return ForgeTileLink(node, rng.randrange(c.nodes[node].plan.tile_count))
    raise FaultError(f"unknown fault class {kind!r}; one of {', '.join(FAULT_KINDS)}")


def _wrong_output(c: ModelCommitment, node: int, tile: int, rng: random.Random, vm_step: int | None) -> WrongOutput:
    first, end = c.nodes[node].plan.tile(tile)
    return WrongOutput(node, rng.randrange(first, end), delta=rng.choice(DELTAS), vm_step=vm_step)


def expected_rejection(fault: Fault, commitment: ModelCommitment) -> tuple[str, int] | None:
    """(`LinkProofInvalid(Inner)`, level) of the opening that rejects a lying submitter's forged link; None for a
    WrongOutput, which the liar carries consistently down to one MIPS step. A forged output of the node that writes
    the model output already contradicts the submitted output, at the request → graph link."""
    if isinstance(fault, WrongOutput):
        return None
    if isinstance(fault, (ForgeGraphLink, ForgeTileLink)) and _writes_model_output(commitment, fault.node):
        return _REJECTIONS[ForgeOutput], 0
    return _REJECTIONS[type(fault)], boundary_level(fault)


def _writes_model_output(commitment: ModelCommitment, node: int) -> bool:
    return commitment.model.nodes[node].output == commitment.output_slot


def boundary_level(fault: Fault) -> int:
    """The game level a forged link of this fault would open (0 graph, 1 tile, 2 VM)."""
    return {ForgeOutput: 0, ForgeInput: 0, ForgeGraphLink: 1, ForgeTileLink: 2}[type(fault)]
