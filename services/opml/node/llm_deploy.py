"""LLM files on an LLM stack, for nodes: their commitment, how a deployment file names them, and registering one
on a deployed LLM stack (`opml register-model`; `devnet.deploy_llm_devnet` deploys a stack with them).

The LLM stack (`opml.stacks.llm`: request → token → graph → tile → VM levels, the MIPS step) has its own
ModelRegistry, Coordinator and DisputeGame, so a deployment file describes either an LLM stack or an ML stack, never
both: its models are all `{"kind": "llm", "model_file": …}`. A node serving both runs one daemon per deployment
file. Each LLM is registered by its commitment's roots, its file's keccak256 and the URI to fetch it from.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from opml.chain.bindings import ModelRegistryContract
from opml.chain.tx import TxSender
from opml.hashing import keccak
from opml.levels.llm_commitment import LlmCommitment, commit_llm
from opml.llm.llmfile import LLMFileError, load

from .deployment import Deployment, ModelSpec
from .registration import ModelFileError, model_file_name

log = structlog.get_logger(__name__)


def commit_llm_file(path: Path) -> LlmCommitment:
    """The registry commitment of the LLM file `path`; ModelFileError (one line) when it is none."""
    if not Path(path).is_file():
        raise ModelFileError(f"LLM file {path} does not exist")
    try:
        return commit_llm(load(path))
    except LLMFileError as exc:
        raise ModelFileError(f"LLM file {path} cannot be served: {exc}") from None


def register_llm(sender: TxSender, deployment: Deployment, path: Path, fee: int,
                 uri: str | None = None) -> tuple[int, Deployment]:
    """Registers the LLM file `path` on `deployment`'s registry (an LLM stack's) from the sender's account; returns
    its id and the deployment with the model added (kind "llm"). The caller saves the deployment."""
    commitment = commit_llm_file(path)
    contract = ModelRegistryContract(sender.w3, deployment.registry)
    call = contract.register_model_file(*commitment.roots, uri or Path(path).resolve().as_uri(), fee, 0, 0,
                                        keccak(Path(path).read_bytes()))
    mined = sender.send(call, label="registerModelFile")
    model_id = int(contract.events("ModelRegistered", mined.receipt)[0]["modelId"])
    spec = ModelSpec(kind="llm", model_file=model_file_name(path))
    log.info("llm_registered", model=model_id, model_file=spec.param("model_file"), fee=fee,
             graph_root=commitment.roots[0])
    return model_id, deployment.model_copy(update={"models": {**deployment.models, model_id: spec}})
