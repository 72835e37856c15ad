"""Fault classes of an ML dispute, by where the lie sits, and a random fault of each class (`opml dispute-demo`,
the benchmarks, the tests).

  output      the submitted output is not the output slot of the party's own graph end state (ForgeOutput)
  node        a wrong output element at a random node, from the first or the last VM step of its tile
  tile        a wrong output element in the middle tile of a random node
  vm          a wrong output element at a random VM step of a tile of the middle node
  link-graph  the request → graph link is forged: a graph trace from an input the request did not carry
  link-tile   the graph → tile link is forged: a node output with no tile trace behind it (ForgeGraphLink)
  link-vm     the tile → VM link is forged: tile states with no VM run behind them (ForgeTileLink)

A lying submitter whose lie cannot be carried down to a MIPS step meets a named link error and loses on time;
every other lie is decided by one MIPS step or, for a challenger whose forged roots have nothing behind them, lost
on time (the tests' oracle: tests/integration/test_mnist_dispute.py).
"""

from __future__ import annotations

import random

from .commitments import ModelCommitment
from .faults import Fault, FaultError, ForgeGraphLink, ForgeInput, ForgeOutput, ForgeTileLink, WrongOutput
from .request_level import RequestLevel

FAULT_KINDS = ("output", "node", "tile", "vm", "link-graph", "link-tile", "link-vm")
DELTAS = (-3, 1, 7)


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
