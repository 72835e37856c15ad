"""The committed MNIST models on real held-out digits: the MIPS VM against the native executor, bit for bit;
int8 accuracy against the float original (onnxruntime); and the import being deterministic.

Data: models/mnist_data.npz (written by models/train_mnist.py; the split is defined there).
"""

from __future__ import annotations

import numpy as np
import pytest

from opml.ml import executor
from opml.ml.accuracy import accuracy, as_float_input, predict_float, predict_int8
from opml.ml.cli import main as model_cli
from opml.ml.onnx_import import import_onnx, read_onnx
from opml.ml.scales import QuantizedModel, scales_path
from opml.ml.vmrun import run_node
from opml.paths import REPO_ROOT

MODELS = REPO_ROOT / "models"
NAMES = ("mnist_mlp", "mnist_cnn")
DIGITS = (0, 437, 1203, 1999)  # held-out test indices: classes 0, 2, 6, 9


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    with np.load(MODELS / "mnist_data.npz") as loaded:
        return {key: loaded[key] for key in loaded.files}


@pytest.fixture(scope="module", params=NAMES)
def name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def quantized(name) -> QuantizedModel:
    return QuantizedModel.load(MODELS / f"{name}.opml")


def test_split_is_the_documented_one(data):
    assert data["test_x"].shape == (2000, 28, 28) and data["test_x"].dtype == np.uint8
    assert data["calib_x"].shape == (500, 28, 28)
    assert np.bincount(data["test_y"]).tolist() == [200] * 10
    assert np.bincount(data["calib_y"]).tolist() == [50] * 10
    held_out = {row.tobytes() for row in data["test_x"]}
    assert not any(row.tobytes() in held_out for row in data["calib_x"])


@pytest.mark.parametrize("index", DIGITS)
def test_vm_inference_equals_native_trace(quantized, data, index):
    """Whole inference in the VM, node by node, each node reading the VM's own earlier outputs."""
    x = quantized.quantize_input(as_float_input(data["test_x"][index]))
    trace = executor.run(quantized.model, x)
    values = {quantized.model.inputs[0]: x, **quantized.model.constants}
    for position, node in enumerate(quantized.model.nodes):
        result = run_node(node, [values[slot] for slot in node.inputs])
        native = trace.outputs[node.output]
        assert result.output.dtype == native.dtype and result.output.shape == native.shape
        mismatches = np.flatnonzero(result.output.reshape(-1) != native.reshape(-1))
        assert mismatches.size == 0, (
            f"digit {index}, node {position} ({node.op.value}): VM differs from native at flat elements "
            f"{mismatches[:8].tolist()} (VM {result.output.reshape(-1)[mismatches[:8]].tolist()}, "
            f"native {native.reshape(-1)[mismatches[:8]].tolist()})"
        )
        values[node.output] = result.output


def test_int8_accuracy_within_one_point_of_float(name, quantized, data):
    x, y = data["test_x"], data["test_y"]
    fp32 = accuracy(predict_float(read_onnx(MODELS / f"{name}.onnx"), x), y)
    predicted = predict_int8(quantized, x, fast=False)  # the numpy reference executor
    int8 = accuracy(predicted, y)
    assert np.array_equal(predict_int8(quantized, x, fast=True), predicted)  # the fast executor agrees
    assert fp32 > 0.9 and int8 > 0.9, (fp32, int8)
    assert abs(int8 - fp32) <= 0.01, f"{name}: float {fp32:.4f} vs int8 {int8:.4f} on {len(y)} held-out digits"


def test_import_is_deterministic(name, quantized, data, tmp_path):
    """Re-importing the committed ONNX with the committed calibration set gives the committed files, byte for byte."""
    again = import_onnx(MODELS / f"{name}.onnx", as_float_input(data["calib_x"]))
    again.save(tmp_path / f"{name}.opml")
    assert (tmp_path / f"{name}.opml").read_bytes() == (MODELS / f"{name}.opml").read_bytes(), (
        f"models/{name}.opml is stale: re-import it with the command in models/README.md")
    assert scales_path(tmp_path / f"{name}.opml").read_text() == scales_path(MODELS / f"{name}.opml").read_text()
    assert again.scales == quantized.scales


def test_cli_run_cross_checks_every_node_in_the_vm(capsys, data):
    index = 1203
    quantized = QuantizedModel.load(MODELS / "mnist_cnn.opml")
    expected = int(predict_int8(quantized, data["test_x"][index : index + 1])[0])
    code = model_cli(["model", "run", str(MODELS / "mnist_cnn.opml"), "--input",
                      f"{MODELS / 'mnist_data.npz'}:test_x", "--index", str(index), "--vm"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "VM: every node matches" in printed and "MISMATCH" not in printed
    assert f"argmax: {expected}" in printed
