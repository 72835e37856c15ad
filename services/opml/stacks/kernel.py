"""The contract stack for single-kernel requests: the game is one VM level of one MIPS kernel run (`matmul_i8` by
default), opened by `VmLinkVerifier` and stepped by `MIPS`; the request input is the kernel's params and input
tensors, and `VmCommitment` derives the run's initial VM state from it on chain. `opml demo --kernel`, the tests
and the benchmarks deploy it.

    stack = deploy_vm_stack(w3, VmStackConfig(trace_depth=12))
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.kernels import code_root

from .deploy import GameConfig, deploy_game, transact


@dataclass(frozen=True)
class VmStackConfig(GameConfig):
    """VM traces of 2^trace_depth steps of the kernel `kernel`; the game's parameters as in GameConfig."""

    kernel: str = "matmul_i8"
    trace_depth: int = 12
    max_input_bytes: int = 4_096

    @property
    def trace_length(self) -> int:
        return 1 << self.trace_depth


@dataclass(frozen=True)
class VmStack:
    """A deployed stack: the game is one VM level opened by `VmLinkVerifier`, stepped by `MIPS`; the registered
    model is the single kernel `config.kernel` (its `kernelSetRoot` is the kernel's code root)."""

    w3: Web3
    config: VmStackConfig
    bindings: GameBindings
    registry: Contract
    commitment: Contract
    link: Contract
    mips: Contract
    game: Contract
    coordinator: Contract
    model_id: int
    model_roots: tuple[bytes, bytes, bytes]
    deploy_gas: int


def kernel_model_roots(kernel: str) -> tuple[bytes, bytes, bytes]:
    """(graphRoot, constantsRoot, kernelSetRoot) of the model that is one kernel run: the graph and constants
    roots only name it; the kernel set root is the kernel's code region root, from which VmCommitment derives
    the initial VM state."""
    return (keccak(b"opml.kernel-model.graph:" + kernel.encode()), keccak(b"opml.kernel-model.constants:none"),
            code_root(kernel))


def deploy_vm_stack(w3: Web3, config: VmStackConfig = VmStackConfig(), admin: str | None = None) -> VmStack:
    """Deploys ModelRegistry, MIPS, VmLinkVerifier, VmCommitment, DisputeGame and Coordinator from the unlocked
    `admin` (default the node's first account), binds them and registers the kernel model."""
    admin = admin or w3.eth.accounts[0]
    start_block = w3.eth.block_number
    mips = deploy(w3, "MIPS", sender=admin)
    link = deploy(w3, "VmLinkVerifier", config.trace_length, sender=admin)
    commitments: list[Contract] = []

    def commitment(registry: str) -> str:
        commitments.append(deploy(w3, "VmCommitment", registry, sender=admin))
        return commitments[0].address

    contracts = deploy_game(w3, config, [link.address], [config.trace_depth], mips.address, commitment, admin)
    roots = kernel_model_roots(config.kernel)
    registry = contracts.registry
    receipt = transact(w3, registry.functions.registerModel(*roots, f"kernel://{config.kernel}", config.model_fee),
                       admin)
    model_id = ModelRegistryContract(w3, registry.address).events("ModelRegistered", receipt)[0]["modelId"]
    gas = sum(int(w3.eth.get_block(n, full_transactions=True)["gasUsed"])
              for n in range(start_block + 1, w3.eth.block_number + 1))
    bindings = GameBindings.at(w3, contracts.coordinator.address, from_block=start_block)
    return VmStack(w3, config, bindings, registry, commitments[0], link, mips, contracts.game, contracts.coordinator,
                   model_id, roots, gas)
