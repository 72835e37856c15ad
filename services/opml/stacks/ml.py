"""Deploying the game stack for committed ML models: the three link verifiers (request → graph → tile → VM),
the MIPS step verifier and TensorCommitment on top of the shared game contracts (`opml.stacks.deploy`); and
registering a model.

    stack = deploy_ml_stack(w3)
    model_id = stack.register(commitment)            # a ModelCommitment's three roots
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.levels.commitments import ModelCommitment
from opml.ml.model import Model
from opml.ml.modelfile import to_bytes

from .deploy import DeployedGame, GameConfig, deploy_game

LINK_VERIFIERS = ("RequestGraphLink", "GraphTileLink", "TileVmLink")


@dataclass(frozen=True)
class LevelContracts:
    """The deployed verifiers: `links` in level order (graph, tile and VM levels are opened through them)."""

    links: tuple[Contract, ...]
    step: Contract
    commitment: Contract


def deploy_level_contracts(w3: Web3, sender: str | None = None) -> LevelContracts:
    links = tuple(deploy(w3, name, sender=sender) for name in LINK_VERIFIERS)
    return LevelContracts(links, deploy(w3, "MIPS", sender=sender), deploy(w3, "TensorCommitment", sender=sender))


@dataclass(frozen=True)
class MlStackConfig(GameConfig):
    """`max_depths`: log2 of the longest graph, tile and VM traces the game accepts."""

    max_depths: tuple[int, int, int] = (12, 16, 32)
    require_sizes: bool = True


@dataclass(frozen=True)
class MlStack(DeployedGame):
    config: MlStackConfig
    levels: LevelContracts

    def register(self, commitment: ModelCommitment, uri: str = "", file_hash: bytes | None = None) -> int:
        """Registers the model's roots, its exact input/output sizes and its model file's keccak256 (default: the
        hash of the model serialized as a file) with `uri` as where to fetch it (owned by the admin); returns its
        id."""
        call = self.registry.functions.registerModelFile(
            *commitment.roots, uri or f"opml://{commitment.model.name}", self.config.model_fee,
            *commitment.io_bytes, file_hash or model_file_hash(commitment.model))
        return self._registered(call)


def deploy_ml_stack(w3: Web3, config: MlStackConfig = MlStackConfig(), admin: str | None = None) -> MlStack:
    """Deploys and binds the whole stack from the unlocked `admin` account (default the node's first)."""
    admin = admin or w3.eth.accounts[0]
    start_block = w3.eth.block_number
    levels = deploy_level_contracts(w3, admin)
    game = deploy_game(w3, config, [c.address for c in levels.links], config.max_depths, levels.step.address,
                       lambda _: levels.commitment.address, admin)
    return MlStack(w3, GameBindings.at(w3, game.coordinator.address, from_block=start_block), game.registry, admin,
                   config=config, levels=levels)


def model_file_hash(model: Model) -> bytes:
    """keccak256 of `model` as a model file (what `opml.ml.modelfile.save` writes): the registry's file hash."""
    return keccak(to_bytes(model))
