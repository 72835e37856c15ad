"""Registering an ML model on a deployed stack: commit the model file (graph, constants and kernel-set roots,
docs/levels.md), send `ModelRegistry.registerModelFile` from a key (the roots, the exact input and output sizes,
the file's keccak256 and the URI to fetch it from), and record the model in the deployment file as
`{"kind": "ml", "model_file": …}` so that daemons serve it. `fetch_model_file` is the other side of that data
availability promise: a node without the file fetches it (file:// or http(s)://) and checks its hash.

    opml register-model models/mnist_cnn.opml --deployment deploy/local.json --rpc-url … --key …
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path

import structlog
from opml.chain.bindings import ModelRegistryContract
from opml.chain.tx import TxSender
from opml.hashing import keccak
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
                        uri: str | None = None, file_hash: bytes | None = None) -> int:
    """Registers the commitment's roots, exact input/output sizes and model file hash (default: the hash of the
    model serialized as a file; owned by the sender's account); returns the new model id. Reverts raise
    `ContractRevert` (e.g. `ZeroRoot`)."""
    from opml.stacks.ml import model_file_hash

    contract = ModelRegistryContract(sender.w3, registry)
    call = contract.register_model_file(*commitment.roots, uri or f"opml://{commitment.model.name}", fee,
                                        *commitment.io_bytes, file_hash or model_file_hash(commitment.model))
    mined = sender.send(call, label="registerModelFile")
    return int(contract.events("ModelRegistered", mined.receipt)[0]["modelId"])


def register_model(sender: TxSender, deployment: Deployment, path: Path, fee: int = DEFAULT_FEE_WEI,
                   uri: str | None = None) -> tuple[int, Deployment]:
    """Registers the model file `path` on `deployment`'s registry; returns its id and the deployment with the
    model added (kind "ml"). The caller saves the deployment."""
    commitment = commit_model(path)
    model_id = register_commitment(sender, deployment.registry, commitment, fee,
                                   uri or Path(path).resolve().as_uri(), keccak(Path(path).read_bytes()))
    spec = ModelSpec(kind="ml", model_file=model_file_name(path))
    log.info("model_registered", model=model_id, model_file=spec.param("model_file"), fee=fee,
             graph_root=commitment.roots[0])
    return model_id, deployment.model_copy(update={"models": {**deployment.models, model_id: spec}})


FETCH_TIMEOUT_S = 30


def fetch_model_file(uri: str, file_hash: bytes, cache_dir: Path) -> Path:
    """The model file registered with keccak256 `file_hash`, fetched from `uri` (file:// or http(s)://) into
    `cache_dir` unless already there; ModelFileError when it cannot be fetched or its bytes have another hash
    (nothing is kept then)."""
    target = Path(cache_dir) / f"{file_hash.hex()}.opml"
    if target.is_file() and keccak(target.read_bytes()) == file_hash:
        return target
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme not in ("file", "http", "https"):
        raise ModelFileError(f"model file URI {uri!r}: only file://, http:// and https:// can be fetched")
    try:
        with urllib.request.urlopen(uri, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
            data = response.read()
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"model file {uri} cannot be fetched: {exc}") from None
    if keccak(data) != file_hash:
        raise ModelFileError(f"model file {uri} has keccak256 0x{keccak(data).hex()}, the registry says "
                             f"0x{file_hash.hex()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    log.info("model_file_fetched", uri=uri, file_hash=file_hash, path=str(target), size=len(data))
    return target
