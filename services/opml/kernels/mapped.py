"""A kernel's initial state with its big inputs mapped instead of written: what a tile of an LLM node starts from.

`load_kernel_mapped` gives the state `opml.kernels.load_kernel` gives for the same arguments — the same contents,
memory root and proofs —, but an input of `TREE_BYTES` or more is placed with `Memory.map_region` from its cached
region tree (`opml.vm.regiontree`): nothing of it is copied or hashed until a run touches its pages, so a tile
that reads a few rows of a weight matrix of tens of MB pays for those rows only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from opml.kernels import load_kernel
from opml.vm import layout
from opml.vm.regiontree import TREE_BYTES, region_tree
from opml.vm.state import VMState


def load_kernel_mapped(name: str, *, params: bytes = b"", inputs: Sequence[bytes | np.ndarray] = (),
                       output: bytes = b"", hashed: bool = True) -> VMState:
    """Initial VM state of kernel `name` (as `load_kernel`), big inputs mapped from their region trees; with
    `hashed=False` they are mapped without trees (nothing hashed: the state can run, it has no hashes)."""
    raws = [np.ascontiguousarray(x).reshape(-1).view(np.uint8) if isinstance(x, np.ndarray) else bytes(x)
            for x in inputs]
    small = [b"" if len(raw) >= TREE_BYTES else bytes(raw) for raw in raws]
    state = load_kernel(name, params=params, inputs=small, output=output)
    for region, raw in zip(layout.INPUTS, raws):
        if len(raw) >= TREE_BYTES:
            tree = region_tree(raw, region.log2_size) if hashed else None
            state.memory.map_region(region.base, raw, tree, region.log2_size)
    return state
