"""LLM files on an LLM stack, for nodes: their commitment, how a deployment file names them, and registering one
on a deployed LLM stack (`opml register-model`; `devnet.deploy_llm_devnet` deploys a stack with them).

The LLM stack (`opml.stacks.llm`: request → token → graph → tile → VM levels, the MIPS step) has its own
ModelRegistry, Coordinator and DisputeGame, so a deployment file describes either an LLM stack or an ML stack, never
both: its models are all `{"kind": "llm", "model_file": …}`. A node serving both runs one daemon per deployment
file. Each LLM is registered by its commitment's roots, its file's keccak256 and the URI to fetch it from.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import structlog

from opml.chain.bindings import ModelRegistryContract
from opml.chain.build import load_artifact
from opml.chain.tx import TxSender
from opml.hashing import keccak
from opml.levels.llm_commitment import LlmCommitment, commit_llm
from opml.llm.llmfile import LLMFileError, from_bytes

from .deployment import Deployment, ModelSpec
from .registration import ModelFileError, model_file_name

log = structlog.get_logger(__name__)


def commit_llm_file(path: Path) -> LlmCommitment:
    """The registry commitment of the LLM file `path`; ModelFileError (one line) when it is none. A process commits
    the same file bytes once (planning the tiles runs kernels in the VM)."""
    if not Path(path).is_file():
        raise ModelFileError(f"LLM file {path} does not exist")
    try:
        return _commitment(Path(path).read_bytes())
    except LLMFileError as exc:
        raise ModelFileError(f"LLM file {path} cannot be served: {exc}") from None


@lru_cache(maxsize=2)
def _commitment(data: bytes) -> LlmCommitment:
    return commit_llm(from_bytes(data))


def register_llm(sender: TxSender, deployment: Deployment, path: Path, fee: int,
                 uri: str | None = None) -> tuple[int, Deployment]:
    """Registers the LLM file `path` on `deployment`'s registry (an LLM stack's) from the sender's account (its
    roots, fee, file hash and URI; no fixed sizes) and binds its graph in the coordinator's GenerationCommitment
    (which checks each request against the model's context and vocabulary); returns its id and the deployment with
    the model added (kind "llm"). The caller saves the deployment."""
    commitment = commit_llm_file(path)
    w3 = sender.w3
    registry = w3.eth.contract(address=deployment.registry, abi=load_artifact("ModelRegistry").abi)
    call = registry.functions.registerUnsizedModelFile(*commitment.roots, uri or Path(path).resolve().as_uri(), fee,
                                                       keccak(Path(path).read_bytes()))
    mined = sender.send(call, label="registerUnsizedModelFile")
    model_id = int(ModelRegistryContract(w3, deployment.registry).events("ModelRegistered", mined.receipt)[0]
                   ["modelId"])
    coordinator = w3.eth.contract(address=deployment.coordinator, abi=load_artifact("Coordinator").abi)
    generation = w3.eth.contract(address=coordinator.functions.commitment().call(),
                                 abi=load_artifact("GenerationCommitment").abi)
    sender.send(generation.functions.bindModel(model_id, commitment.graph.as_tuple()), label="bindModel")
    spec = ModelSpec(kind="llm", model_file=model_file_name(path))
    log.info("llm_registered", model=model_id, model_file=spec.param("model_file"), fee=fee,
             graph_root=commitment.roots[0])
    return model_id, deployment.model_copy(update={"models": {**deployment.models, model_id: spec}})
