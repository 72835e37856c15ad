"""Deploying the ML levels' contracts: the three link verifiers (request → graph → tile → VM), the MIPS step
verifier and the tensor commitment, in the order `DisputeGame` takes them."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.contracts import deploy

LINK_VERIFIERS = ("RequestGraphLink", "GraphTileLink", "TileVmLink")


@dataclass(frozen=True)
class LevelContracts:
    """The deployed verifiers; `links` in level order (graph, tile, VM are opened through them)."""

    links: tuple[Contract, ...]
    step: Contract
    commitment: Contract


def deploy_level_contracts(w3: Web3, sender: str | None = None) -> LevelContracts:
    links = tuple(deploy(w3, name, sender=sender) for name in LINK_VERIFIERS)
    return LevelContracts(links, deploy(w3, "MIPS", sender=sender), deploy(w3, "TensorCommitment", sender=sender))
