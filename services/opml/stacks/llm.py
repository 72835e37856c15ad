"""Deploying the game stack for generation requests on committed LLMs: RequestTokenLink, TokenGraphLink and the ML
levels' GraphTileLink and TileVmLink (request → token → graph → tile → VM), the MIPS step verifier and
GenerationCommitment on top of the shared game contracts (`opml.stacks.deploy`); and registering an LLM.

    stack = deploy_llm_stack(w3)
    model_id = stack.register(commit_llm(llm))       # its roots, file hash and LlmGraph (bound for commitInput)
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.levels.llm_commitment import LlmCommitment
from opml.llm.llmfile import to_bytes

from .deploy import DeployedGame, GameConfig, deploy_game, transact

LINK_VERIFIERS = ("RequestTokenLink", "TokenGraphLink", "GraphTileLink", "TileVmLink")


@dataclass(frozen=True)
class LlmStackConfig(GameConfig):
    """`max_depths`: log2 of the longest token, graph, tile and VM traces the game accepts (2^12 decode steps,
    2^12 nodes per step). Sizes are not fixed per model: GenerationCommitment checks a request's layout against
    the model's context and binds the output's length."""

    max_depths: tuple[int, int, int, int] = (12, 12, 16, 32)
    require_sizes: bool = False


@dataclass(frozen=True)
class LlmStack(DeployedGame):
    config: LlmStackConfig
    links: tuple[Contract, ...]
    step: Contract
    commitment: Contract

    def register(self, commitment: LlmCommitment, uri: str = "", file_hash: bytes | None = None) -> int:
        """Registers the LLM's roots and its model file's keccak256 (default: the hash of the LLM serialized as a
        file) with `uri` as where to fetch it (owned by the admin), and binds its LlmGraph in
        GenerationCommitment; returns its id."""
        call = self.registry.functions.registerUnsizedModelFile(
            *commitment.roots, uri or f"opml://{commitment.llm.name}", self.config.model_fee,
            file_hash or llm_file_hash(commitment))
        model_id = self._registered(call)
        transact(self.w3, self.commitment.functions.bindModel(model_id, commitment.graph.as_tuple()), self.admin)
        return model_id


def deploy_llm_stack(w3: Web3, config: LlmStackConfig = LlmStackConfig(), admin: str | None = None) -> LlmStack:
    """Deploys and binds the whole stack from the unlocked `admin` account (default the node's first)."""
    admin = admin or w3.eth.accounts[0]
    start_block = w3.eth.block_number
    links = tuple(deploy(w3, name, sender=admin) for name in LINK_VERIFIERS)
    step = deploy(w3, "MIPS", sender=admin)
    commitments: list[Contract] = []

    def commitment(registry: str) -> str:
        commitments.append(deploy(w3, "GenerationCommitment", registry, sender=admin))
        return commitments[0].address

    game = deploy_game(w3, config, [c.address for c in links], config.max_depths, step.address, commitment, admin)
    return LlmStack(w3, GameBindings.at(w3, game.coordinator.address, from_block=start_block), game.registry, admin,
                    config=config, links=links, step=step, commitment=commitments[0])


def llm_file_hash(commitment: LlmCommitment) -> bytes:
    """keccak256 of the LLM as a model file (what `opml.llm.llmfile.save` writes): the registry's file hash."""
    return keccak(to_bytes(commitment.llm))
