"""Fault injection: how a lying party's claims differ from the honest ones, for tests and demos.

A party is described by a set of faults; with none it is honest.

  WrongOutput(node, element, delta, vm_step)  node `node` outputs element `element` off by `delta` (wrapping in
      the output dtype) and every later node computes on from it. Down the levels the lie lands in the tile
      holding the element, and in that tile's VM run at state `vm_step` (1 = the first step, None = the step
      at which the honest run exits): from that state on the liar's VM states carry the wrong element in OUTPUT.
  ForgeGraphLink(node)   the graph states after node `node` carry a made-up commitment in its output slot, with
      no tile trace behind it: opening the node's tile level can only post the honest tile trace, whose end
      does not give the claimed graph state (TileEndMismatch).
  ForgeTileLink(node, tile)   the tile states after tile `tile` of node `node` are made up: opening the tile's
      VM level can only post the honest run, whose OUTPUT does not match (OutputRootMismatch).
  ForgeOutput()   the submitted output bytes differ from the output slot of the graph end state the party claims
      (OutputNotInEndState when level 0 is opened).
  ForgeInput(element)   the party's graph trace starts from an input the request did not carry (input element
      `element` off by one): its request → graph link names an input commitment that is not in the request's
      anchor (AnchorMismatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from opml.hashing import keccak
from opml.ml.model import Model
from opml.ml.ops import OPS


@dataclass(frozen=True)
class WrongOutput:
    node: int
    element: int
    delta: int = 1
    vm_step: int | None = 1


@dataclass(frozen=True)
class ForgeGraphLink:
    node: int


@dataclass(frozen=True)
class ForgeTileLink:
    node: int
    tile: int


@dataclass(frozen=True)
class ForgeOutput:
    pass


@dataclass(frozen=True)
class ForgeInput:
    element: int = 0


Fault = WrongOutput | ForgeGraphLink | ForgeTileLink | ForgeOutput | ForgeInput


class FaultError(ValueError):
    """A fault that does not fit the model (node or element out of range)."""


def forged(root: bytes) -> bytes:
    """A made-up root standing in for `root` (off chain only)."""
    return keccak(b"opml.forged" + root)


def corrupt_element(array: np.ndarray, element: int, delta: int) -> np.ndarray:
    """A copy of `array` with flat element `element` changed by `delta` (wrapping in its dtype)."""
    if not 0 <= element < array.size:
        raise FaultError(f"element {element} outside a tensor of {array.size}")
    out = array.copy().reshape(-1)
    info = np.iinfo(out.dtype)
    span = int(info.max) - int(info.min) + 1
    value = (int(out[element]) + delta - int(info.min)) % span + int(info.min)
    if value == int(out[element]):
        raise FaultError(f"a delta of {delta} leaves element {element} unchanged")
    out[element] = value
    return out.reshape(array.shape)


def believed_input(input_value: np.ndarray, faults: Iterable[Fault]) -> np.ndarray:
    """The input the party computes on: the request's, unless it forges it (ForgeInput)."""
    forged_inputs = [f for f in faults if isinstance(f, ForgeInput)]
    return corrupt_element(input_value, forged_inputs[0].element, 1) if forged_inputs else input_value


def wrong_outputs(faults: Iterable[Fault]) -> dict[int, WrongOutput]:
    """The WrongOutput faults by node."""
    return {f.node: f for f in faults if isinstance(f, WrongOutput)}


def believed_values(model: Model, input_value: np.ndarray | Mapping[int, np.ndarray],
                    faults: Iterable[Fault] = ()) -> dict[int, np.ndarray]:
    """Every tensor as the party computes it: the native executor, with each WrongOutput applied where its node
    runs and the later nodes computing on from the wrong value. `input_value`: the model's one input, or every
    input by slot (a decode step)."""
    lies = wrong_outputs(faults)
    for node_index in lies:
        if not 0 <= node_index < len(model.nodes):
            raise FaultError(f"node {node_index} outside 0..{len(model.nodes) - 1}")
    inputs = input_value if isinstance(input_value, Mapping) else {model.inputs[0]: input_value}
    values: dict[int, np.ndarray] = {**{s: np.ascontiguousarray(v) for s, v in inputs.items()}, **model.constants}
    for k, node in enumerate(model.nodes):
        out = OPS[node.op].reference([values[s] for s in node.inputs], node.attrs)
        if k in lies:
            out = corrupt_element(out, lies[k].element, lies[k].delta)
        values[node.output] = out
    return values
