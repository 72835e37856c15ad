"""The game contracts every stack shares: ModelRegistry, DisputeGame and Coordinator deployed with one
`GameConfig` and bound together (`deploy_game`), and `transact` for deployment calls from an unlocked account.
The ML stack (`opml.stacks.ml`), the single-kernel VM stack (`opml.stacks.kernel`), the toy stack
(`opml.stacks.toy`) and the test fixtures all deploy through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy
from opml.chain.tx import ETHER

BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"


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
class DeployedGame:
    """A deployed stack's common part: the chain, the game's bindings, the model registry and its admin (the
    account that registers models)."""

    w3: Web3
    bindings: GameBindings
    registry: Contract
    admin: str

    def _registered(self, call: Any) -> int:
        """Sends the registry call `call` from the admin; returns the id of the model it registered."""
        receipt = transact(self.w3, call, self.admin)
        return ModelRegistryContract(self.w3, self.registry.address).events("ModelRegistered", receipt)[0]["modelId"]


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


def transact(w3: Web3, call, sender: str):  # noqa: ANN001, ANN201
    """Sends `call` from the unlocked `sender` and waits; RuntimeError if it reverted. Returns the receipt."""
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment transaction {call.fn_name} reverted")
    return receipt
