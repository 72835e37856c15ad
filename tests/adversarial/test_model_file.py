"""Attack on data availability: a model whose weights no challenger can obtain cannot be disputed, and a node fed
a tampered file would serve another model. The registry records the model file's keccak256 and where to fetch it;
a node fetches it (file:// or http(s)://, here a local file and a local HTTP server) and refuses any other bytes."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, deploy_ml_game_stack
from fixtures_http import local_http_server
from web3 import Web3

from opml.paths import REPO_ROOT
from opml.hashing import keccak
from opml.levels.commitments import ModelCommitment
from opml.levels.tiling import plan_model
from opml.ml.modelfile import load
from opml.node.backends import BackendError
from opml.node.config import NodeConfig
from opml.node.deployment import ModelSpec
from opml.node.ml_backend import ml_backend
from opml.node.registration import ModelFileError, fetch_model_file

pytestmark = pytest.mark.attack

MODEL_FILE = REPO_ROOT / "models" / "mnist_mlp.opml"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder holding a copy of the model file and a tampered one."""
    root = tmp_path / "www"
    root.mkdir()
    data = MODEL_FILE.read_bytes()
    (root / "model.opml").write_bytes(data)
    (root / "tampered.opml").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    with local_http_server(handler) as url:
        yield url, root


@pytest.mark.usefixtures("isolated_chain")
def test_registry_records_the_file_hash_and_uri(w3: Web3, contracts_built: None) -> None:
    model = load(MODEL_FILE)
    stack: GameStack = deploy_ml_game_stack(w3, ModelCommitment(model, plan_model(model)), MODEL_FILE.as_uri(),
                                            ML_STACK_CONFIG)
    file_hash, uri = stack.registry.functions.modelFile(stack.model_id).call()
    assert bytes(file_hash) == keccak(MODEL_FILE.read_bytes()) and uri == MODEL_FILE.as_uri()
    (recorded,) = stack.registry.events.ModelFileRecorded().get_logs(from_block=0, argument_filters={
        "modelId": stack.model_id})
    assert recorded["args"]["fileHash"] == file_hash and recorded["args"]["inputBytes"] == 784


def test_node_fetches_and_verifies_the_model_file(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    digest = keccak(MODEL_FILE.read_bytes())
    fetched = fetch_model_file(f"{base}/model.opml", digest, tmp_path / "cache")
    assert fetched.read_bytes() == MODEL_FILE.read_bytes()
    assert fetch_model_file(MODEL_FILE.as_uri(), digest, tmp_path / "cache2").read_bytes() == MODEL_FILE.read_bytes()
    config = NodeConfig.model_construct(cache_dir=tmp_path / "node-cache", model_dir=None, faults=[])
    backend = ml_backend(ModelSpec(kind="ml", model_uri=f"{base}/model.opml", file_hash="0x" + digest.hex()), config)
    assert backend.file_hash == digest and backend.commitment.io_bytes == (784, 10)


def test_tampered_or_unreachable_model_file_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    digest = keccak(MODEL_FILE.read_bytes())
    with pytest.raises(ModelFileError, match="the registry says"):
        fetch_model_file(f"{base}/tampered.opml", digest, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # nothing kept
    with pytest.raises(ModelFileError, match="cannot be fetched"):
        fetch_model_file(f"{base}/missing.opml", digest, tmp_path / "cache")
    with pytest.raises(ModelFileError, match="only file://"):
        fetch_model_file("ftp://example/model.opml", digest, tmp_path / "cache")
    config = NodeConfig.model_construct(cache_dir=tmp_path / "node-cache", model_dir=None, faults=[])
    with pytest.raises(BackendError, match="the registry says"):
        ml_backend(ModelSpec(kind="ml", model_uri=f"{base}/tampered.opml", file_hash="0x" + digest.hex()), config)
