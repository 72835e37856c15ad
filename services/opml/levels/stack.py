"""Deploying the game stack for committed ML models: the three link verifiers (request → graph → tile → VM),
the MIPS step verifier, TensorCommitment, ModelRegistry, DisputeGame and Coordinator; and registering a model.
`deploy_game` (registry, game, coordinator, bound) serves every stack: the ML one, the single-kernel VM one
(`opml.demo`) and the test fixtures.

    stack = deploy_ml_stack(w3)
    model_id = stack.register(commitment)            # a ModelCommitment's three roots
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy

from opml.hashing import keccak
from opml.ml.model import Model
from opml.ml.modelfile import to_bytes

from .commitments import ModelCommitment

ETHER = 10**18
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"
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
class GameConfig:
    """What a stack's DisputeGame and Coordinator are deployed with: checkpoints per round (N), each party's clock,
    the challenge window, bonds, the burned share, the callback gas cap, the request input cap, the request timeout
    (seconds after which an unanswered request may be cancelled by its requester for a refund), the model fee, and
    whether every model must have registered exact input/output sizes (`require_sizes`: the ML stack, whose tensor
    commitment is zero padded)."""

    checkpoint_count: int = 15
    clock_seconds: int = 3_600
    challenge_window: int = 600
    submitter_bond: int = 2 * ETHER
    challenger_bond: int = ETHER
    burn_bps: int = 1_000
    max_callback_gas: int = 300_000
    max_input_bytes: int = 1 << 16
    request_timeout: int = 86_400
    model_fee: int = ETHER // 100
    require_sizes: bool = False


@dataclass(frozen=True)
class GameContracts:
    registry: Contract
    game: Contract
    coordinator: Contract


def deploy_game(w3: Web3, config: GameConfig, links: Sequence[str], max_depths: Sequence[int], step: str,
                commitment: Callable[[str], str], admin: str) -> GameContracts:
    """Deploys ModelRegistry, DisputeGame (levels opened by the `links` addresses, stepped by `step`) and
    Coordinator, and binds the game to the coordinator; `commitment(registry_address)` gives the ICommitment's
    address (deploying it if need be: VmCommitment reads the registry)."""
    registry = deploy(w3, "ModelRegistry", admin, sender=admin)
    commitment_address = commitment(registry.address)
    game = deploy(w3, "DisputeGame", list(links), list(max_depths), step, config.checkpoint_count,
                  config.clock_seconds, sender=admin)
    coordinator = deploy(w3, "Coordinator", registry.address, game.address, commitment_address,
                         config.submitter_bond, config.challenger_bond, config.challenge_window, config.burn_bps,
                         BURN_ADDRESS, config.max_callback_gas, config.max_input_bytes, config.request_timeout,
                         config.require_sizes, sender=admin)
    transact(w3, game.functions.bindCoordinator(coordinator.address), admin)
    return GameContracts(registry, game, coordinator)


@dataclass(frozen=True)
class MlStackConfig(GameConfig):
    """`max_depths`: log2 of the longest graph, tile and VM traces the game accepts."""

    max_depths: tuple[int, int, int] = (12, 16, 32)
    require_sizes: bool = True


@dataclass(frozen=True)
class MlStack:
    w3: Web3
    config: MlStackConfig
    bindings: GameBindings
    levels: LevelContracts
    registry: Contract
    admin: str

    def register(self, commitment: ModelCommitment, uri: str = "", file_hash: bytes | None = None) -> int:
        """Registers the model's roots, its exact input/output sizes and its model file's keccak256 (default: the
        hash of the model serialized as a file) with `uri` as where to fetch it (owned by the admin); returns its
        id."""
        call = self.registry.functions.registerModelFile(
            *commitment.roots, uri or f"opml://{commitment.model.name}", self.config.model_fee,
            *commitment.io_bytes, file_hash or model_file_hash(commitment.model))
        receipt = transact(self.w3, call, self.admin)
        return ModelRegistryContract(self.w3, self.registry.address).events("ModelRegistered", receipt)[0]["modelId"]


def deploy_ml_stack(w3: Web3, config: MlStackConfig = MlStackConfig(), admin: str | None = None) -> MlStack:
    """Deploys and binds the whole stack from the unlocked `admin` account (default the node's first)."""
    admin = admin or w3.eth.accounts[0]
    start_block = w3.eth.block_number
    levels = deploy_level_contracts(w3, admin)
    game = deploy_game(w3, config, [c.address for c in levels.links], config.max_depths, levels.step.address,
                       lambda _: levels.commitment.address, admin)
    return MlStack(w3, config, GameBindings.at(w3, game.coordinator.address, from_block=start_block), levels,
                   game.registry, admin)


def transact(w3: Web3, call, sender: str):  # noqa: ANN001, ANN201
    """Sends `call` from the unlocked `sender` and waits; RuntimeError if it reverted. Returns the receipt."""
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment transaction {call.fn_name} reverted")
    return receipt


def model_file_hash(model: Model) -> bytes:
    """keccak256 of `model` as a model file (what `opml.ml.modelfile.save` writes): the registry's file hash."""
    return keccak(to_bytes(model))
