"""Registering an ML model on a deployed stack: commit the model file (graph, constants and kernel-set roots,
docs/levels.md), send `ModelRegistry.registerModel` from a key, and record the model in the deployment file as
`{"kind": "ml", "model_file": …}` so that daemons serve it.

    opml register-model models/mnist_cnn.opml --deployment deploy/local.json --rpc-url … --key …
"""

from __future__ import annotations

from pathlib import Path

import structlog
from opml.chain.bindings import ModelRegistryContract
from opml.chain.tx import TxSender
from opml.levels.commitments import ModelCommitment
from opml.levels.tiling import plan_model
from opml.ml.errors import MLError
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT

from .deployment import Deployment, ModelSpec

log = structlog.get_logger(__name__)

DEFAULT_FEE_WEI = 10**16


class ModelFileError(Exception):
    """A model file is missing or is not a quantized opML model (with its scales file)."""


def load_quantized(path: Path) -> QuantizedModel:
    """The quantized model in `path` (its `.scales.json` beside it); ModelFileError with the reason otherwise."""
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        return QuantizedModel.load(path)
    except (MLError, OSError) as exc:
        raise ModelFileError(f"model file {path} cannot be served: {exc}") from None


def commit_model(path: Path) -> ModelCommitment:
    """The registry commitment of the model in `path` (what `ModelRegistry.registerModel` takes)."""
    model = load_quantized(path).model
    return ModelCommitment(model, plan_model(model))


def model_file_name(path: Path, model_dir: Path = REPO_ROOT) -> str:
    """How the deployment file names `path`: relative to `model_dir` (the daemons' default `model_dir`) when it
    lies inside it, else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(model_dir.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def register_commitment(sender: TxSender, registry: str, commitment: ModelCommitment, fee: int,
                        uri: str | None = None) -> int:
    """Registers the commitment's roots (owned by the sender's account); returns the new model id. Reverts raise
    `ContractRevert` (e.g. `ZeroRoot`)."""
    contract = ModelRegistryContract(sender.w3, registry)
    call = contract.register_model(*commitment.roots, uri or f"opml://{commitment.model.name}", fee)
    mined = sender.send(call, label="registerModel")
    return int(contract.events("ModelRegistered", mined.receipt)[0]["modelId"])


def register_model(sender: TxSender, deployment: Deployment, path: Path, fee: int = DEFAULT_FEE_WEI,
                   uri: str | None = None) -> tuple[int, Deployment]:
    """Registers the model file `path` on `deployment`'s registry; returns its id and the deployment with the
    model added (kind "ml"). The caller saves the deployment."""
    commitment = commit_model(path)
    model_id = register_commitment(sender, deployment.registry, commitment, fee, uri)
    spec = ModelSpec(kind="ml", model_file=model_file_name(path))
    log.info("model_registered", model=model_id, model_file=spec.param("model_file"), fee=fee,
             graph_root=commitment.roots[0])
    return model_id, deployment.model_copy(update={"models": {**deployment.models, model_id: spec}})
