"""`opml demo`: a real kernel computation requested, submitted and disputed on a fresh local Anvil, narrated.

The dispute is over the VM level of one MIPS kernel run (`matmul_i8`): the request input is the kernel's params
and input tensors, its commitment is the run's initial VM state (derived on chain by `VmCommitment`), and a
challenge bisects the submitter's VM trace down to one instruction that the `MIPS` contract executes.

Also here: `deploy_vm_stack`, the contract stack for such kernel requests (tests and benchmarks use it too).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from opml.chain.bindings import GameBindings, ModelRegistryContract
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.kernels import code_root

ETHER = 10**18
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"


# -- the contract stack for single-kernel requests ----------------------------------------------------------------
@dataclass(frozen=True)
class VmStackConfig:
    """Deployment parameters: VM traces of 2^trace_depth steps, N checkpoints per round, clocks, bonds, fees."""

    kernel: str = "matmul_i8"
    trace_depth: int = 12
    checkpoint_count: int = 15
    clock_seconds: int = 3_600
    challenge_window: int = 600
    submitter_bond: int = 2 * ETHER
    challenger_bond: int = ETHER
    burn_bps: int = 1_000
    max_callback_gas: int = 300_000
    max_input_bytes: int = 4_096
    model_fee: int = ETHER // 100

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
    registry = deploy(w3, "ModelRegistry", admin, sender=admin)
    mips = deploy(w3, "MIPS", sender=admin)
    link = deploy(w3, "VmLinkVerifier", config.trace_length, sender=admin)
    commitment = deploy(w3, "VmCommitment", registry.address, sender=admin)
    game = deploy(w3, "DisputeGame", [link.address], [config.trace_depth], mips.address, config.checkpoint_count,
                  config.clock_seconds, sender=admin)
    coordinator = deploy(w3, "Coordinator", registry.address, game.address, commitment.address,
                         config.submitter_bond, config.challenger_bond, config.challenge_window, config.burn_bps,
                         BURN_ADDRESS, config.max_callback_gas, config.max_input_bytes, sender=admin)
    _transact(w3, game.functions.bindCoordinator(coordinator.address), admin)
    roots = kernel_model_roots(config.kernel)
    receipt = _transact(w3, registry.functions.registerModel(*roots, f"kernel://{config.kernel}", config.model_fee),
                        admin)
    model_id = ModelRegistryContract(w3, registry.address).events("ModelRegistered", receipt)[0]["modelId"]
    gas = sum(int(w3.eth.get_block(n, full_transactions=True)["gasUsed"])
              for n in range(start_block + 1, w3.eth.block_number + 1))
    bindings = GameBindings.at(w3, coordinator.address, from_block=start_block)
    return VmStack(w3, config, bindings, registry, commitment, link, mips, game, coordinator, model_id, roots, gas)


def _transact(w3: Web3, call, sender: str):  # type: ignore[no-untyped-def]
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment transaction {call.fn_name} reverted")
    return receipt


# -- the narrated demo ----------------------------------------------------------------------------------------------
NAMES = {"requester": "Rita (requester)", "alice": "Alice (honest submitter)", "mallory": "Mallory (faulty submitter)",
         "bob": "Bob (challenger)"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="a kernel computation requested, disputed and settled on a local "
                                                "Anvil, down to one MIPS instruction executed on chain")
    parser.add_argument("--seed", type=int, default=None, help="random data and lie step (default: random)")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("M", "K", "N"), default=(4, 6, 3),
                        help="matmul shape: int8[M,K] x int8[K,N] -> int32[M,N] (default 4 6 3)")
    parser.add_argument("--trace-depth", type=int, default=12,
                        help="VM traces have 2^DEPTH steps (must cover the run; default 12)")
    parser.add_argument("--lie-at", type=int, default=None,
                        help="the step at which the faulty submitter forges its output (default: random)")
    parser.set_defaults(func=run_command)


def run_command(args) -> int:  # type: ignore[no-untyped-def]
    from opml.demo_story import Story  # noqa: PLC0415 — heavy imports only for the command

    return Story(args).run()
