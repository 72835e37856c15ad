"""The model plug-in point: fault specs, the toy backend's claims, and clear errors for unknown models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.game.toy import ForgeLink, Lie, WrongStart, project
from opml.hashing import keccak
from opml.levels.faults import WrongOutput
from opml.node.backends import BackendError, RequestInput, ToyBackend, build_backends, parse_fault
from opml.node.ml_backend import parse_ml_fault
from opml.node.config import load_config
from opml.node.deployment import Deployment, DeploymentError, ModelSpec, load_deployment

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize(("text", "fault"), [
    ("lie:0.3:2", Lie((0, 3), 2)),
    ("lie:0:8", Lie((0,), 8)),
    ("forge:-:1", ForgeLink((), 1)),
    ("forge-length:0:3", ForgeLink((0,), 3, "length")),
    ("wrongstart:0.6", WrongStart((0, 6))),
])
def test_fault_specs_parse(text: str, fault: object) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["lie", "lie:0", "lie:x:1", "wrongstart:0:1", "boom:0:1", "lie:0:1:2"])
def test_bad_fault_specs_are_rejected(text: str) -> None:
    with pytest.raises(BackendError, match="is not lie:PATH:I"):
        parse_fault(text)


def test_toy_claim_is_what_the_toy_contracts_accept() -> None:
    anchor = keccak(b"anchor")
    claim = ToyBackend((8, 4, 16)).claim(RequestInput(1, 1, b"in", anchor))
    assert keccak(claim.output) == claim.output_commitment  # KeccakCommitment
    assert claim.output_commitment == project(claim.trace_commitment, 8)
    assert claim.provider.root_at(0) == anchor
    liar = ToyBackend((8, 4, 16), frozenset({Lie((0,), 8)})).claim(RequestInput(1, 1, b"in", anchor))
    assert liar.output_commitment != claim.output_commitment
    assert keccak(liar.output) == liar.output_commitment  # a liar's output is self-consistent


def _deployment(**models: ModelSpec) -> Deployment:
    return Deployment(network="t", chain_id=31337, start_block=0, coordinator=ADDRESS, game=ADDRESS,
                      registry=ADDRESS, models={int(k.removeprefix("m")): v for k, v in models.items()})


def _config(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "d.json"
    path.write_text("{}")
    return load_config(None, private_key=DEV_PRIVATE_KEYS[2], deployment=path, **values)


def test_backends_for_the_served_models(tmp_path: Path) -> None:
    deployment = _deployment(m1=ModelSpec(kind="toy", level_lengths=[4]), m2=ModelSpec(kind="toy", level_lengths=[8]))
    assert sorted(build_backends(deployment, _config(tmp_path))) == [1, 2]
    backends = build_backends(deployment, _config(tmp_path, models=[2], faults=["lie:0:1"]))
    assert list(backends) == [2] and backends[2].faults == {Lie((0,), 1)}


def test_unknown_models_and_kinds_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="model 5 is not in the deployment"):
        build_backends(_deployment(m1=ModelSpec(kind="toy", level_lengths=[4])), _config(tmp_path, models=[5]))
    with pytest.raises(BackendError, match="kind 'quantum'; known kinds: .*llm.*toy"):
        build_backends(_deployment(m1=ModelSpec(kind="quantum")), _config(tmp_path))
    with pytest.raises(BackendError, match="level_lengths"):
        build_backends(_deployment(m1=ModelSpec(kind="toy")), _config(tmp_path))


def test_deployment_file_round_trip_and_errors(tmp_path: Path) -> None:
    deployment = _deployment(m1=ModelSpec(kind="toy", level_lengths=[8, 4]))
    deployment.save(tmp_path / "local.json")
    loaded = load_deployment(tmp_path / "local.json")
    assert loaded == deployment and loaded.models[1].param("level_lengths") == [8, 4]
    (tmp_path / "bad.json").write_text('{"network": "x", "chain_id": 1, "start_block": 0, "coordinator": "0x12"}')
    with pytest.raises(DeploymentError, match="coordinator.*not an address"):
        load_deployment(tmp_path / "bad.json")
    with pytest.raises(DeploymentError, match="does not exist"):
        load_deployment(tmp_path / "none.json")


def test_ml_backend_claims_the_committed_models_output(tmp_path: Path) -> None:
    import numpy as np

    from opml.paths import REPO_ROOT
    from opml.levels.commitments import tensor_commitment

    deployment = _deployment(m2=ModelSpec(kind="ml", model_file="models/mnist_mlp.opml"))
    backend = build_backends(deployment, _config(tmp_path, model_dir=REPO_ROOT))[2]
    spec = backend.commitment.model.tensors[backend.commitment.input_slot]  # type: ignore[attr-defined]
    digit = np.random.default_rng(7).integers(-128, 128, size=spec.shape, dtype=np.int8)
    claim = backend.claim(RequestInput(1, 2, digit.tobytes(), b"\0" * 32))
    assert claim.output_commitment == tensor_commitment(np.frombuffer(claim.output, np.int8))
    assert claim.provider.root_at(1) == claim.output_commitment and not claim.provider.is_last_level
    assert backend.claim(RequestInput(2, 2, digit.tobytes(), b"\0" * 32)).output == claim.output  # deterministic
    with pytest.raises(BackendError, match="input has 3 bytes; the model takes int8"):
        backend.claim(RequestInput(3, 2, b"abc", b"\0" * 32))
    with pytest.raises(BackendError, match="does not exist"):
        build_backends(_deployment(m2=ModelSpec(kind="ml", model_file="nope.opml")), _config(tmp_path))


@pytest.mark.parametrize(("text", "fault"), [
    ("wrong-output:2:3", WrongOutput(2, 3, 1, 1)),
    ("wrong-output:2:3:40", WrongOutput(2, 3, 1, 40)),
    ("wrong-output:8:7:100:-12", WrongOutput(8, 7, -12, 100)),
])
def test_ml_fault_specs_parse(text: str, fault: WrongOutput) -> None:
    assert parse_ml_fault(text) == fault


@pytest.mark.parametrize("text", ["wrong-output:2", "wrong-output:a:b", "wrong-output:1:2:3:4:5", "lie:0:1"])
def test_bad_ml_fault_specs_are_rejected(text: str) -> None:
    with pytest.raises(BackendError, match="wrong-output:NODE:ELEMENT"):
        parse_ml_fault(text)


def test_a_models_tiling_plan_is_kept_between_runs(tmp_path: Path) -> None:
    from opml.levels.tiling import plan_model
    from opml.ml.modelfile import load
    from opml.node.ml_backend import MlBackend, planned
    from opml.paths import REPO_ROOT

    model_file = REPO_ROOT / "models" / "mnist_mlp.opml"
    model, file_hash = load(model_file), keccak(model_file.read_bytes())
    first = planned(model, file_hash, tmp_path)
    (kept,) = tmp_path.iterdir()
    assert first == plan_model(model)
    kept.write_text(kept.read_text().replace("[", "[[", 1))  # a plan file that no longer parses is planned again
    assert planned(model, file_hash, tmp_path) == first
    kept.write_text("[[1, 10, 3]]")  # a plan for another number of nodes too
    assert planned(model, file_hash, tmp_path) == first
    plans = [[p.tile_elems, p.out_elems, p.vm_depth + 1] for p in first]
    kept.write_text(json.dumps(plans))  # what is kept is what the next run uses (the registry check guards it)
    assert [p.vm_depth for p in MlBackend(model_file, plans_dir=tmp_path).commitment.plans] == \
        [p.vm_depth + 1 for p in first]


def test_data_free_steps_are_found_at_start_kept_between_runs_and_used_by_the_budget_check(tmp_path: Path) -> None:
    from opml.levels.commitments import tensor_commitment
    from opml.levels.tiling import data_free_steps
    from opml.node.ml_backend import MlBackend
    from opml.paths import REPO_ROOT

    model_file = REPO_ROOT / "models" / "mnist_mlp.opml"
    backend = MlBackend(model_file, plans_dir=tmp_path)
    found = backend.data_free_steps(timeout=120)
    assert found and found == data_free_steps(backend.commitment.model, backend.commitment.plans)
    (kept,) = (p for p in tmp_path.iterdir() if "-steps" in p.name)
    kept.write_text(json.dumps({"0": [1]}))  # a tile count the plan does not have: found again
    assert MlBackend(model_file, plans_dir=tmp_path).data_free_steps(timeout=120) == found
    node = min(found)
    over = {str(k): [n * (1000 if k == node else 1) for n in v] for k, v in found.items()}
    kept.write_text(json.dumps(over))  # what is kept is what the budget check believes: it runs no proven node
    doctored = MlBackend(model_file, plans_dir=tmp_path)
    assert doctored.data_free_steps(timeout=120)[node] == tuple(over[str(node)])
    data = bytes(784)
    claim = doctored.claim(RequestInput(1, 1, data, doctored.commitment.anchor(tensor_commitment(data))))
    assert f"node {node} tile 0" in (claim.refusal() or "")
    assert backend.claim(RequestInput(1, 1, data, backend.commitment.anchor(tensor_commitment(data)))).refusal() \
        is None
