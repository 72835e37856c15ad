"""The VM-time wrapper (`opml_vm_seconds`): it reports each VM call of an ML dispute once, and answers exactly what
the wrapped levels answer."""

from __future__ import annotations

import numpy as np
import pytest

from opml.levels.commitments import ModelCommitment
from opml.levels.request_level import RequestLevel
from opml.levels.tiling import plan_model
from opml.levels.vm_level import VmLevel
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.node.metrics import Metrics
from opml.node.vm_timing import TimedProvider, timed_vm
from opml.paths import REPO_ROOT


@pytest.fixture(scope="module")
def request_level() -> RequestLevel:
    quantized = QuantizedModel.load(REPO_ROOT / "models" / "mnist_mlp.opml")
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digit = quantized.quantize_input(as_float_input(data["test_x"][3]))
    return RequestLevel(ModelCommitment(quantized.model, plan_model(quantized.model)), digit)


def test_each_vm_call_is_observed_once_and_answers_are_unchanged(request_level: RequestLevel) -> None:
    seen: list[tuple[str, float]] = []
    timed = timed_vm(request_level, lambda call, seconds: seen.append((call, seconds)))
    graph, proof = timed.open_next(0)
    assert proof == request_level.open_next(0)[1] and not seen  # above the VM: nothing timed
    node = 2
    tiles, _ = graph.open_next(node)
    assert graph.root_at(node + 1) == request_level.graph.root_at(node + 1) and not seen
    vm, vm_proof = tiles.open_next(1)
    assert isinstance(vm, TimedProvider) and isinstance(vm.inner, VmLevel) and vm.is_last_level
    assert [call for call, _ in seen] == ["trace"]
    plain = request_level.graph.tile_level(node).vm_level(1)
    assert vm.length == plain.length and vm_proof == request_level.graph.tile_level(node).link_proof(1).encode()

    assert tiles.open_next(1)[0] is vm and len(seen) == 1  # the solver's walk down each turn costs nothing more
    middle = vm.length // 2
    assert vm.root_at(middle) == plain.root_at(middle) and vm.root_at(middle) == plain.root_at(middle)
    assert vm.step_witness(middle) == plain.step_witness(middle)
    assert [call for call, _ in seen] == ["trace", "state", "witness"]
    assert all(seconds >= 0 for _, seconds in seen)


def test_the_metric_is_a_histogram_by_call() -> None:
    metrics = Metrics(role="challenger")
    for call, seconds in (("trace", 0.25), ("state", 0.001), ("state", 0.002), ("witness", 0.01)):
        metrics.vm.labels(call).observe(seconds)
    text = metrics.render().decode()
    assert 'opml_vm_seconds_count{call="state"} 2.0' in text
    assert 'opml_vm_seconds_sum{call="trace"} 0.25' in text
    assert 'opml_vm_seconds_count{call="witness"} 1.0' in text
