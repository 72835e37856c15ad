"""Deploying a game stack with toy levels (ToyLinkVerifier per level, ToyStepVerifier, KeccakCommitment) and
playing toy requests on it: for the devnet, the benchmark and quick experiments. The test fixtures
(tests/fixtures_game.py) deploy the same contracts through the same `deploy_game`, with named accounts.

    stack = deploy_toy_stack(w3, ToyStackConfig(level_lengths=(1 << 20,), max_depths=(20,)))
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy
from opml.chain.tx import Mined, TxSender
from opml.game.toy import ToyTrace
from opml.hashing import keccak

from .deploy import GameConfig, deploy_game, transact


@dataclass(frozen=True)
class ToyStackConfig(GameConfig):
    """A GameConfig for toy levels: `level_lengths` (each level's trace length, one ToyLinkVerifier per level) and
    `max_depths`; defaults: one 2^20-step toy level, N = 15, one-hour clocks, requests of at most 4 KiB."""

    level_lengths: tuple[int, ...] = (1 << 20,)
    max_depths: tuple[int, ...] = (20,)
    max_input_bytes: int = 4_096


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
    contracts = deploy_game(w3, config, links, config.max_depths, step, lambda _: commitment, admin)
    roots = [keccak(f"toy.{part}".encode()) for part in ("graph", "constants", "kernels")]
    receipt = transact(w3, contracts.registry.functions.registerModel(*roots, "toy://model", config.model_fee), admin)
    model_id = ModelRegistryContract(w3, contracts.registry.address).events("ModelRegistered", receipt)[0]["modelId"]
    return ToyStack(GameBindings.at(w3, contracts.coordinator.address), config, model_id)
