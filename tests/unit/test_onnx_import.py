"""The ONNX importer: error reporting, lowering of each supported op, quantization, the scales file and the CLI.

Small float graphs are built with onnx.helper (tests/onnx_models.py); each imported integer model is run natively
and compared with the float graph (onnxruntime) within a few output quantization steps.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import onnx_model as _model

from opml.ml import executor
from opml.ml.calibrate import CalibrationError, activation_ranges, run_float
from opml.ml.cli import main as model_cli
from opml.ml.errors import InputError
from opml.paths import REPO_ROOT
from opml.ml.onnx_import import (
    OnnxImportError,
    UnsupportedOpError,
    check_supported,
    quantize_onnx,
    quantize_weights,
    read_onnx,
    round_range,
)
from opml.ml.onnx_lower import lower
from opml.ml.ops import OpType
from opml.ml.png import PngError, read_png
from opml.ml.scales import QuantizedModel, ScalesError, scales_path

RNG = np.random.default_rng(7)
MODELS = REPO_ROOT / "models"


def _weights(*shape, scale=0.3):
    return RNG.normal(0, scale, shape).astype(np.float32)


def _compare(model: onnx.ModelProto, inputs: np.ndarray, steps: float = 3.0) -> QuantizedModel:
    """Import with `inputs` as calibration; every input's int8 result is within `steps` output scales of float."""
    quantized = quantize_onnx(model, inputs)
    expected = run_float(model, inputs)
    for x, want in zip(inputs, expected):
        got = quantized.dequantize_output(executor.run(quantized.model, quantized.quantize_input(x)).result[0])
        tolerance = steps * quantized.output_scale
        assert np.abs(got.reshape(-1) - want.reshape(-1)).max() <= tolerance, (got, want)
    return quantized


def _ops(quantized: QuantizedModel) -> list[OpType]:
    return [node.op for node in quantized.model.nodes]


# -- errors ---------------------------------------------------------------------------------------------------


def test_unsupported_op_is_named_with_its_node():
    model = _model([helper.make_node("Sigmoid", ["x"], ["y"], name="gate_7")], [1, 4], "y", [1, 4])
    with pytest.raises(UnsupportedOpError) as err:
        quantize_onnx(model, RNG.normal(size=(8, 4)))
    assert "'Sigmoid'" in str(err.value) and "gate_7" in str(err.value)


def test_unsupported_op_configuration_is_named():
    w = _weights(3, 2, 3, 3)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c1", auto_pad="SAME_UPPER", kernel_shape=[3, 3])
    model = _model([node], [1, 2, 5, 5], "y", [1, 3, 5, 5], [("w", w)])
    with pytest.raises(UnsupportedOpError, match="c1.*auto_pad=SAME_UPPER"):
        quantize_onnx(model, RNG.normal(size=(4, 2, 5, 5)))


def test_corrupted_onnx_file_gives_a_clear_error(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"])], [1, 4], "y", [1, 4]), good)
    corrupted = tmp_path / "corrupted.onnx"
    corrupted.write_bytes(good.read_bytes()[:-7] + b"\xff\xfe\x00garbage")
    with pytest.raises(OnnxImportError, match="corrupted.onnx: not a valid ONNX model"):
        read_onnx(corrupted)
    random = tmp_path / "random.onnx"
    random.write_bytes(RNG.integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(OnnxImportError, match="random.onnx: not a valid ONNX model"):
        read_onnx(random)
    with pytest.raises(OnnxImportError, match="no such ONNX file"):
        read_onnx(tmp_path / "missing.onnx")
    assert read_onnx(good).graph.node[0].op_type == "Relu"


def test_calibration_of_the_wrong_shape_is_rejected():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], ["batch", 1, 4, 4], "y", ["batch", 1, 4, 4])
    with pytest.raises(CalibrationError, match=r"does not hold items of shape \[1, 4, 4\]"):
        activation_ranges(model, RNG.normal(size=(8, 5, 5)))


def test_running_on_an_input_of_the_wrong_shape_is_rejected():
    w = _weights(3, 4)
    model = _model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], ["batch", 4], "y", ["batch", 3],
                   [("w", w)])
    quantized = quantize_onnx(model, RNG.normal(size=(16, 4)))
    with pytest.raises(InputError, match=r"int8\[1, 4\]"):
        executor.run(quantized.model, np.zeros((1, 5), dtype=np.int8))
    with pytest.raises(InputError):
        executor.run(quantized.model, np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ScalesError, match="needs int8"):
        quantized.quantize_input(np.zeros(7))


def test_symbolic_feature_dimension_is_rejected():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], ["batch", "features"], "y", ["batch", "features"])
    with pytest.raises((OnnxImportError, CalibrationError), match="symbolic|fixed dims"):
        quantize_onnx(model, RNG.normal(size=(4, 3)))


def test_a_non_constant_weight_is_rejected():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["column"]),
             helper.make_node("MatMul", ["x", "column"], ["y"], name="mm")]
    model = _model(nodes, [1, 4], "y", [1, 1], [("shape", [4, 1])])
    with pytest.raises(UnsupportedOpError, match="mm.*must be a constant"):
        quantize_onnx(model, RNG.normal(size=(4, 1, 4)))


def test_attributes_the_integer_op_rejects_are_reported_with_the_node():
    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool_9", kernel_shape=[2, 2], pads=[2, 2, 2, 2])
    model = _model([node], [1, 1, 4, 4], "y", [1, 1, 7, 7])
    check_supported(model)
    with pytest.raises(OnnxImportError, match="(?s)MaxPool node .pool_9.*smaller than the kernel"):
        lower(model, {"x": 1.0, "y": 1.0}, "m")  # ranges given: onnxruntime would refuse these pads itself


# -- lowering, op by op ---------------------------------------------------------------------------------------


def test_gemm_relu_gemm_is_fully_connected_with_fused_relu():
    w1, b1, w2, b2 = _weights(16, 8), _weights(16), _weights(16, 3), _weights(3)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], alpha=0.5, beta=2.0),
    ]
    model = _model(nodes, ["batch", 8], "y", ["batch", 3], [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)])
    quantized = _compare(model, RNG.normal(size=(64, 8)))
    assert _ops(quantized) == [OpType.FULLY_CONNECTED, OpType.REQUANTIZE] * 2
    assert quantized.model.nodes[1].attrs.relu and not quantized.model.nodes[3].attrs.relu


def test_matmul_add_becomes_one_fully_connected_with_bias():
    w, b = _weights(8, 5), _weights(5)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    model = _model(nodes, [1, 8], "y", [1, 5], [("w", w), ("b", b)])
    quantized = _compare(model, RNG.normal(size=(32, 1, 8)))
    assert _ops(quantized) == [OpType.FULLY_CONNECTED, OpType.REQUANTIZE]
    assert np.any(quantized.model.constants[quantized.model.nodes[0].inputs[2]] != 0)


def test_conv_pools_flatten_softmax():
    w, b, w2 = _weights(4, 2, 3, 3), _weights(4), _weights(5, 4 * 3 * 3)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0]),
        helper.make_node("Flatten", ["a"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2"], ["l"], transB=1),
        helper.make_node("Softmax", ["l"], ["y"], axis=-1),
    ]
    model = _model(nodes, ["batch", 2, 6, 6], "y", ["batch", 5], [("w", w), ("b", b), ("w2", w2)])
    quantized = _compare(model, RNG.normal(size=(32, 2, 6, 6)), steps=6.0)
    assert _ops(quantized) == [OpType.CONV2D, OpType.REQUANTIZE, OpType.MAX_POOL, OpType.AVG_POOL,
                               OpType.RESHAPE, OpType.FULLY_CONNECTED, OpType.REQUANTIZE, OpType.SOFTMAX]
    assert quantized.output_scale == pytest.approx(1 / 127)


def test_residual_add_global_average_pool_reshape():
    w = _weights(2, 2, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["y"]),
    ]
    model = _model(nodes, [1, 2, 4, 4], "y", [1, 2], [("w", w), ("shape", [0, -1])])
    quantized = _compare(model, RNG.normal(size=(32, 1, 2, 4, 4)))
    assert _ops(quantized) == [OpType.CONV2D, OpType.REQUANTIZE, OpType.ADD, OpType.GLOBAL_AVG_POOL, OpType.RESHAPE]
    assert quantized.model.nodes[2].attrs.relu


def test_constant_node_feeding_a_reshape():
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64))
    nodes = [helper.make_node("Constant", [], ["shape"], value=shape),
             helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Relu", ["r"], ["y"])]
    model = _model(nodes, [1, 2, 3], "y", [1, 6])
    quantized = _compare(model, RNG.normal(size=(6, 1, 2, 3)), steps=0.51)
    assert _ops(quantized) == [OpType.RESHAPE, OpType.RELU]
    assert quantized.model.tensors[quantized.model.outputs[0]].shape == (1, 6)


def test_batch_norm_after_conv_is_folded_and_a_lone_one_is_rejected():
    c = 4
    gamma, beta = RNG.uniform(0.5, 2.0, c), RNG.normal(0, 0.5, c)
    mean, var = RNG.normal(0, 0.5, c), RNG.uniform(0.2, 3.0, c)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["n"], epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["y"]),
    ]
    inits = [("w", _weights(c, 2, 3, 3)), ("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)]
    model = _model(nodes, [1, 2, 5, 5], "y", [1, c, 5, 5], inits)
    quantized = _compare(model, RNG.normal(size=(16, 1, 2, 5, 5)))
    assert _ops(quantized) == [OpType.CONV2D, OpType.REQUANTIZE] and quantized.model.nodes[1].attrs.relu

    lone = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]),
            helper.make_node("BatchNormalization", ["p", "gamma", "beta", "mean", "var"], ["y"], name="bn")]
    model = _model(lone, [1, c, 3, 3], "y", [1, c, 3, 3], inits[1:])
    with pytest.raises(UnsupportedOpError, match="bn.*only right after a Conv"):
        quantize_onnx(model, RNG.normal(size=(4, 1, c, 3, 3)))


def test_standalone_relu_and_identity():
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]),
             helper.make_node("Relu", ["p"], ["r"]), helper.make_node("Identity", ["r"], ["y"])]
    model = _model(nodes, [1, 1, 3, 3], "y", [1, 1, 3, 3])
    quantized = _compare(model, RNG.normal(size=(8, 1, 1, 3, 3)), steps=0.51)
    assert _ops(quantized) == [OpType.MAX_POOL, OpType.RELU]


# -- quantization ---------------------------------------------------------------------------------------------


def test_weights_are_quantized_per_output_channel():
    w = np.array([[0.5, -1.0, 0.25], [0.004, 0.02, -0.005], [0.0, 0.0, 0.0]])
    q, scales = quantize_weights(w)
    assert q.dtype == np.int8
    assert q[0].tolist() == [64, -127, 32] and q[1].tolist() == [25, 127, -32] and q[2].tolist() == [0, 0, 0]
    assert scales[:2] == pytest.approx([1.0 / 127, 0.02 / 127]) and scales[2] == 1.0


def test_percentile_calibration_clips_outliers_that_maxabs_keeps():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], ["batch", 8], "y", ["batch", 8])
    data = RNG.uniform(-1, 1, size=(500, 8))
    data[17, 3] = 50.0
    maxabs = activation_ranges(model, data, "maxabs")
    clipped = activation_ranges(model, data, "percentile", percentile=99.9)
    assert maxabs["x"] == maxabs["y"] == 50.0
    assert 0.9 < clipped["x"] <= 1.0 and 0.9 < clipped["y"] <= 1.0
    with pytest.raises(CalibrationError, match="unknown calibration method"):
        activation_ranges(model, data, "mean")


def test_calibrated_ranges_are_rounded_up_to_a_coarse_binary_grid():
    assert round_range(1.0) == 1.0
    r = round_range(0.3)
    assert 0.3 <= r < 0.3 * (1 + 2**-9)
    assert round_range(0.3 * (1 + 1e-9)) == r  # float noise does not move the grid point
    assert round_range(0.0) == 0.0 and round_range(float("nan")) == 0.0


# -- the scales file and the CLI ------------------------------------------------------------------------------


def _small_model(tmp_path):
    w = _weights(3, 6)
    model = _model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], ["batch", 6], "y", ["batch", 3],
                   [("w", w)])
    path = tmp_path / "small.onnx"
    onnx.save(model, path)
    calibration = RNG.normal(size=(20, 6)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calibration)
    return path, calibration


def test_scales_file_round_trip_and_stale_detection(tmp_path):
    path, calibration = _small_model(tmp_path)
    quantized = quantize_onnx(read_onnx(path), calibration)
    quantized.save(tmp_path / "m.opml")
    loaded = QuantizedModel.load(tmp_path / "m.opml")
    assert loaded.scales == quantized.scales
    meta = json.loads(scales_path(tmp_path / "m.opml").read_text())
    meta["model_keccak"] = "0x" + "00" * 32
    scales_path(tmp_path / "m.opml").write_text(json.dumps(meta))
    with pytest.raises(ScalesError, match="keccak mismatch"):
        QuantizedModel.load(tmp_path / "m.opml")


def test_cli_import_and_run(tmp_path, capsys):
    path, calibration = _small_model(tmp_path)
    out = tmp_path / "small.opml"
    assert model_cli(["model", "import", str(path), "--calibration", str(tmp_path / "calib.npy"), "-o", str(out)]) == 0
    assert out.is_file() and scales_path(out).is_file()
    np.save(tmp_path / "one.npy", calibration[3])
    capsys.readouterr()
    assert model_cli(["model", "run", str(out), "--input", str(tmp_path / "one.npy"), "--trace"]) == 0
    printed = capsys.readouterr().out
    expected = int(np.argmax(run_float(read_onnx(path), calibration[3:4])))
    assert f"argmax: {expected}" in printed and "FullyConnected" in printed


def test_cli_run_of_a_model_ending_in_argmax_prints_the_index(tmp_path, capsys):
    w = _weights(4, 6)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["l"], transB=1),
             helper.make_node("ArgMax", ["l"], ["y"], axis=1, keepdims=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch"])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              tmp_path / "am.onnx")
    calibration = RNG.normal(size=(30, 6)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calibration)
    out = str(tmp_path / "am.opml")
    assert model_cli(["model", "import", str(tmp_path / "am.onnx"), "--calibration", str(tmp_path / "calib.npy"),
                      "-o", out]) == 0
    assert QuantizedModel.load(out).model.nodes[-1].op is OpType.ARGMAX
    logits = calibration @ w.T
    top2 = np.sort(logits, axis=1)[:, -2:]
    item = int(np.argmax(top2[:, 1] - top2[:, 0]))  # the clearest decision: quantization cannot flip it
    assert top2[item, 1] - top2[item, 0] > 0.5
    np.save(tmp_path / "one.npy", calibration[item])
    capsys.readouterr()
    assert model_cli(["model", "run", out, "--input", str(tmp_path / "one.npy")]) == 0
    printed = capsys.readouterr().out
    assert f"output (index): [{int(np.argmax(logits[item]))}]" in printed and "argmax" not in printed


def test_cli_reports_a_bad_input_file_without_a_traceback(tmp_path, capsys):
    path, _ = _small_model(tmp_path)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    code = model_cli(["model", "import", str(path), "--calibration", str(tmp_path / "bad.npy"), "-o",
                      str(tmp_path / "x.opml")])
    assert code == 2 and "cannot read" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"data": [0.5]}')
    code = model_cli(["model", "run", str(MODELS / "mnist_mlp.opml"), "--input", str(tmp_path / "bad.json")])
    assert code == 2 and "expected a JSON nested list" in capsys.readouterr().err


def _png(pixels: np.ndarray, colour: int, filters: list[int]) -> bytes:
    """Encode uint8 pixels [H, W, C] with the given per-row filter types (test helper, PNG spec §9)."""
    height, width, channels = pixels.shape
    bpp, rows = channels, []
    previous = np.zeros(width * channels, dtype=np.int32)
    for y, kind in enumerate(filters):
        line = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(bpp, dtype=np.int32), line[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, dtype=np.int32), previous[:-bpp]])
        if kind == 4:
            p = left + previous - up_left
            pa, pb, pc = np.abs(p - left), np.abs(p - previous), np.abs(p - up_left)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, previous, up_left))
        else:
            predictor = [0, left, previous, (left + previous) // 2][kind]
        rows.append(bytes([kind]) + ((line - predictor) & 0xFF).astype(np.uint8).tobytes())
        previous = line

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def test_png_inputs_every_filter_and_colour_type(tmp_path):
    grey = RNG.integers(0, 256, (5, 7, 1), dtype=np.uint8)
    (tmp_path / "g.png").write_bytes(_png(grey, 0, [0, 1, 2, 3, 4]))
    assert np.array_equal(read_png(tmp_path / "g.png"), grey[:, :, 0])
    flat = (RNG.integers(0, 3, (12, 12, 1)) * 100).astype(np.uint8)  # few values: Paeth ties on every row
    (tmp_path / "f.png").write_bytes(_png(flat, 0, [4] * 12))
    assert np.array_equal(read_png(tmp_path / "f.png"), flat[:, :, 0])
    rgba = RNG.integers(0, 256, (4, 3, 4), dtype=np.uint8)
    (tmp_path / "c.png").write_bytes(_png(rgba, 6, [4, 3, 1, 2]))
    want = (rgba[:, :, :3].astype(int).sum(axis=2) + 1) // 3
    assert np.array_equal(read_png(tmp_path / "c.png"), want)
    (tmp_path / "bad.png").write_bytes(_png(grey, 0, [0] * 5)[:-30])
    with pytest.raises(PngError):
        read_png(tmp_path / "bad.png")


def test_cli_runs_a_png_digit(tmp_path, capsys):
    with np.load(MODELS / "mnist_data.npz") as data:
        digit = data["test_x"][437]
    (tmp_path / "digit.png").write_bytes(_png(digit[:, :, None], 0, [i % 5 for i in range(28)]))
    np.save(tmp_path / "digit.npy", digit)
    model = str(MODELS / "mnist_cnn.opml")
    assert model_cli(["model", "run", model, "--input", str(tmp_path / "digit.png")]) == 0
    from_png = capsys.readouterr().out
    assert model_cli(["model", "run", model, "--input", str(tmp_path / "digit.npy")]) == 0
    assert from_png == capsys.readouterr().out and "argmax:" in from_png
