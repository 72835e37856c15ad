"""Binary keccak Merkle trees of fixed depth over 32-byte leaves (node = keccak(left ‖ right)), as the link
verifiers fold them (`contracts/levels/LevelsLib.sol`): the slot tree, the node tree and the kernel set."""

from __future__ import annotations

from collections.abc import Sequence

from opml.hashing import keccak


class MerkleError(ValueError):
    """Leaves that do not fit the tree, an index outside it, or a proof of the wrong length."""


def depth_for(count: int) -> int:
    """The smallest depth whose tree holds `count` leaves (0 for one leaf)."""
    if count < 1:
        raise MerkleError(f"a tree needs at least one leaf, got {count}")
    return (count - 1).bit_length()


def _padded(leaves: Sequence[bytes], depth: int, pad: bytes) -> list[bytes]:
    if len(leaves) > 1 << depth:
        raise MerkleError(f"{len(leaves)} leaves do not fit a tree of depth {depth}")
    return [*leaves, *([pad] * ((1 << depth) - len(leaves)))]


def _levels(leaves: Sequence[bytes], depth: int, pad: bytes) -> list[list[bytes]]:
    nodes = _padded(leaves, depth, pad)
    levels = [nodes]
    while len(nodes) > 1:
        nodes = [keccak(left + right) for left, right in zip(nodes[0::2], nodes[1::2])]
        levels.append(nodes)
    return levels


def merkle_root(leaves: Sequence[bytes], depth: int, pad: bytes = bytes(32)) -> bytes:
    """Root of the depth-`depth` tree whose first leaves are `leaves`, the rest `pad`."""
    return _levels(leaves, depth, pad)[-1][0]


def merkle_proof(leaves: Sequence[bytes], depth: int, index: int, pad: bytes = bytes(32)) -> list[bytes]:
    """The `depth` siblings of leaf `index`, bottom up."""
    if not 0 <= index < 1 << depth:
        raise MerkleError(f"leaf {index} is outside a tree of depth {depth}")
    levels = _levels(leaves, depth, pad)
    return [levels[h][(index >> h) ^ 1] for h in range(depth)]


def fold(leaf: bytes, index: int, siblings: Sequence[bytes]) -> bytes:
    """The root that `leaf` at `index` with these bottom-up `siblings` hashes to."""
    node = leaf
    for h, sibling in enumerate(siblings):
        node = keccak(sibling + node) if index >> h & 1 else keccak(node + sibling)
    return node
