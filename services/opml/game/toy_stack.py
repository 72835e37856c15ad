"""Deploying a game stack with toy levels (ToyLinkVerifier per level, ToyStepVerifier, KeccakCommitment) and
playing toy requests on it: for the benchmark, the demo and quick experiments. Tests use their own fixtures.

    stack = deploy_toy_stack(w3, ToyStackConfig(level_lengths=(1 << 20,), max_depths=(20,)))
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy
from opml.chain.tx import Mined, TxSender
from opml.hashing import keccak

from .toy import ToyTrace

ETHER = 10**18
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"


@dataclass(frozen=True)
class ToyStackConfig:
    """Deployment parameters; defaults: one 2^20-step toy level, N = 15, one-hour clocks."""

    level_lengths: tuple[int, ...] = (1 << 20,)
    max_depths: tuple[int, ...] = (20,)
    checkpoint_count: int = 15
    clock_seconds: int = 3_600
    challenge_window: int = 600
    submitter_bond: int = 2 * ETHER
    challenger_bond: int = ETHER
    burn_bps: int = 1_000
    max_callback_gas: int = 300_000
    max_input_bytes: int = 4_096
    model_fee: int = ETHER // 100


@dataclass(frozen=True)
class ToyStack:
    """A deployed toy stack: bindings to play on and the registered model's id."""

    bindings: GameBindings
    config: ToyStackConfig
    model_id: int

    def request(self, sender: TxSender, input_: bytes) -> tuple[int, bytes]:
        """A new request; returns (requestId, anchor)."""
        c = self.bindings.coordinator
        mined = sender.send(c.request(self.model_id, input_), value=self.config.model_fee)
        event = c.events("RequestCreated", mined.receipt)[0]
        return event["requestId"], bytes(event["anchor"])

    def trace(self, anchor: bytes, faults: frozenset = frozenset()) -> ToyTrace:
        return ToyTrace.request(anchor, self.config.level_lengths, faults)

    def submit(self, sender: TxSender, request_id: int, trace: ToyTrace) -> Mined:
        """Submits what `trace` claims: output bytes hashing to its S_1 and its level-0 end root."""
        level0, _ = trace.open_next(0)
        call = self.bindings.coordinator.submit(request_id, trace.claim_preimage(1), level0.root_at(level0.length))
        return sender.send(call, value=self.config.submitter_bond)

    def challenge(self, sender: TxSender, request_id: int) -> tuple[int, Mined]:
        """Challenges the active result; returns (gameId, the mined transaction)."""
        mined = sender.send(self.bindings.coordinator.challenge(request_id), value=self.config.challenger_bond)
        return self.bindings.coordinator.events("Challenged", mined.receipt)[0]["gameId"], mined


def deploy_toy_stack(w3: Web3, config: ToyStackConfig = ToyStackConfig(), deployer: str | None = None) -> ToyStack:
    """Deploys the toy stack from an unlocked `deployer` account (default the node's first) and registers a model."""
    admin = deployer or w3.eth.accounts[0]
    links = [deploy(w3, "ToyLinkVerifier", n, sender=admin).address for n in config.level_lengths]
    step = deploy(w3, "ToyStepVerifier", sender=admin).address
    commitment = deploy(w3, "KeccakCommitment", sender=admin).address
    registry = deploy(w3, "ModelRegistry", admin, sender=admin)
    game = deploy(w3, "DisputeGame", links, list(config.max_depths), step, config.checkpoint_count,
                  config.clock_seconds, sender=admin)
    coordinator = deploy(w3, "Coordinator", registry.address, game.address, commitment,
                         config.submitter_bond, config.challenger_bond, config.challenge_window, config.burn_bps,
                         BURN_ADDRESS, config.max_callback_gas, config.max_input_bytes, sender=admin)
    _transact(w3, game.functions.bindCoordinator(coordinator.address), admin)
    roots = [keccak(f"toy.{part}".encode()) for part in ("graph", "constants", "kernels")]
    receipt = _transact(w3, registry.functions.registerModel(*roots, "toy://model", config.model_fee), admin)
    model_id = ModelRegistryContract(w3, registry.address).events("ModelRegistered", receipt)[0]["modelId"]
    return ToyStack(GameBindings.at(w3, coordinator.address), config, model_id)


def _transact(w3: Web3, call, sender: str):  # type: ignore[no-untyped-def]
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment transaction {call.fn_name} reverted")
    return receipt
