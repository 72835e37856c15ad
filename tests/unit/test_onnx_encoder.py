"""ONNX transformer encoders: BERT-family graphs exported by `torch.onnx.export` (tests/data/encoders, made by
tests/data/make_encoders.py) import into integer models whose pooled embeddings match onnxruntime's float ones.

The two exports cover both LayerNorm forms (fused LayerNormalization; ReduceMean/Sub/Pow/Sqrt/Div), both GELU
forms (Erf; tanh), mean pooling and the [CLS] pooler with a classifier head, with dynamic batch and sequence
axes (so shape subgraphs to fold) and padding masks.
"""

from __future__ import annotations

import re
from collections import Counter

import encoder_models as E
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from opml.ml import executor
from opml.ml import transformer_consts as T
from opml.ml.calibrate import probe_feeds, run_float
from opml.ml.cli import main as model_cli
from opml.ml.encoder_input import pack_tokens, token_rows
from opml.ml.errors import InputError
from opml.ml.onnx_fold import fold_static, probe
from opml.ml.onnx_graph import OnnxImportError, UnsupportedOpError
from opml.ml.onnx_import import quantize_onnx, read_onnx
from opml.ml.onnx_patterns import rewrite
from opml.ml.ops import OpType
from opml.ml.scales import QuantizedModel

CALIBRATION_ITEMS = 64
TEST_ITEMS = 16
COSINE_BAR = 0.99


def _inputs(model: onnx.ModelProto, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [i.name for i in model.graph.input]
    return {k: v for k, v in batch.items() if k in names}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _run_int(quantized: QuantizedModel, batch: dict[str, np.ndarray], i: int) -> np.ndarray:
    tokens = pack_tokens(quantized.model, {name: values[i] for name, values in batch.items()})
    return quantized.dequantize_output(executor.run(quantized.model, tokens).result[0]).reshape(-1)


def _pooled_output(model: onnx.ModelProto, tensor: str) -> onnx.ModelProto:
    """The graph cut at `tensor` (its only output), e.g. the [CLS] pooler's tanh before the classifier."""
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    del cut.graph.output[:]
    cut.graph.output.append(helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    keep = [n for n in cut.graph.node if n.op_type != "Gemm" or n.output[0] != "logits"]
    del cut.graph.node[:]
    cut.graph.node.extend(keep)
    return cut


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    return E.token_batch(rng, CALIBRATION_ITEMS), E.token_batch(rng, TEST_ITEMS)


@pytest.fixture(scope="module")
def mean_model(data):
    model = read_onnx(E.ENCODERS["bert_mean_erf"])
    return model, quantize_onnx(model, _inputs(model, data[0]), name="bert_mean_erf")


@pytest.fixture(scope="module")
def cls_model():
    return read_onnx(E.ENCODERS["bert_cls_tanh"])


def _cosines(model: onnx.ModelProto, quantized: QuantizedModel, batch: dict[str, np.ndarray]) -> list[float]:
    batch = _inputs(model, batch)
    expected = run_float(model, batch)
    return [_cosine(_run_int(quantized, batch, i), expected[i]) for i in range(len(expected))]


# -- what it must show ----------------------------------------------------------------------------------------


def test_mean_pooled_embeddings_match_onnxruntime(data, mean_model):
    model, quantized = mean_model
    _, test = data
    assert len(set(test["attention_mask"].sum(axis=1).tolist())) >= 5  # many padding lengths
    cosines = _cosines(model, quantized, test)
    assert min(cosines) >= COSINE_BAR, cosines
    # the bar means something: the float embeddings of different sequences are far from parallel
    expected = run_float(model, _inputs(model, test))
    assert min(_cosine(expected[0], e) for e in expected[1:]) < 0.5


def test_cls_pooler_embeddings_and_classifier_match_onnxruntime(data, cls_model):
    calibration, test = (_inputs(cls_model, b) for b in data)
    pooler = _pooled_output(cls_model, "/Tanh_output_0")
    quantized = quantize_onnx(pooler, calibration, name="bert_cls_pooler")
    assert min(_cosines(pooler, quantized, test)) >= COSINE_BAR

    classifier = quantize_onnx(cls_model, calibration, name="bert_cls_tanh")
    expected = run_float(cls_model, test)
    got = np.stack([_run_int(classifier, test, i) for i in range(TEST_ITEMS)])
    assert np.abs(got - expected).max() <= 8 * classifier.output_scale
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9


def test_the_integer_graph_is_built_from_the_transformer_ops(mean_model):
    _, quantized = mean_model
    ops = Counter(node.op for node in quantized.model.nodes)
    assert ops[OpType.LAYER_NORM] == 1 + 2 * E.LAYERS
    assert ops[OpType.ATTENTION] == E.LAYERS + 1  # one per layer, one for the mean pooling
    assert ops[OpType.LUT] == E.LAYERS  # GELU
    assert ops[OpType.FULLY_CONNECTED] == 6 * E.LAYERS
    spec = quantized.model.tensors[quantized.model.inputs[0]]
    assert (spec.dtype, spec.shape) == ("int32", (3, E.SEQ))
    assert token_rows(quantized.model) == ["input_ids", "attention_mask", "token_type_ids"]


def test_padding_is_ignored_exactly(data, mean_model):
    """Tokens under a zero mask never reach the pooled embedding: changing them changes no output bit."""
    model, quantized = mean_model
    test = _inputs(model, data[1])
    padded = int(np.argmin(test["attention_mask"].sum(axis=1)))
    other = {k: v.copy() for k, v in test.items()}
    hidden = other["attention_mask"][padded] == 0
    assert hidden.any()
    other["input_ids"][padded][hidden] = 7
    other["token_type_ids"][padded][hidden] = 1
    run = [executor.run(quantized.model, pack_tokens(quantized.model, {k: v[padded] for k, v in b.items()}))
           for b in (test, other)]
    assert np.array_equal(run[0].result[0], run[1].result[0])


# -- the import steps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(E.ENCODERS))
def test_shape_subgraphs_fold_into_constants_without_changing_the_result(data, name):
    model = read_onnx(E.ENCODERS[name])
    counts = Counter(n.op_type for n in model.graph.node)
    assert counts["Shape"] > 0 and counts["Concat"] > 0 and counts["Unsqueeze"] > 0
    folded = fold_static(model, probe_feeds(model, _inputs(model, data[0])))
    left = Counter(n.op_type for n in folded.model.graph.node)
    assert not {"Shape", "Concat", "Constant", "ConstantOfShape", "Slice"} & set(left)
    item = {k: v[3:4] for k, v in _inputs(model, data[1]).items()}
    output = model.graph.output[0].name
    assert np.allclose(probe(folded.model, item)[output], run_float(model, item), atol=1e-5)


def test_both_layer_norm_and_gelu_forms_are_recognized(data, mean_model, cls_model):
    calibration = data[0]
    found = {}
    for name, model in (("erf", mean_model[0]), ("tanh", cls_model)):
        folded = fold_static(model, probe_feeds(model, _inputs(model, calibration)))
        found[name] = rewrite(folded.model, folded.shapes)
        left = Counter(n.op_type for n in folded.model.graph.node)
        assert left["LayerNormalization"] == 1 + 2 * E.LAYERS
        assert not {"ReduceMean", "Sqrt", "Pow", "Erf", "Tanh", "Softmax", "Transpose", "Mul", "Div"} & set(left)
    assert found["erf"]["layer_norm"] == 0 and found["tanh"]["layer_norm"] == 1 + 2 * E.LAYERS  # fused; decomposed
    assert found["erf"]["function"] == E.LAYERS and found["tanh"]["function"] == E.LAYERS + 1  # + pooler tanh
    assert found["erf"]["attention"] == found["tanh"]["attention"] == E.LAYERS
    assert found["erf"]["mean_pooling"] == 1


@pytest.mark.parametrize("name, gelu", [("bert_mean_erf", T.gelu_erf), ("bert_cls_tanh", T.gelu_tanh)])
def test_gelu_tables_are_the_gelu_of_their_scales(data, name, gelu):
    model = read_onnx(E.ENCODERS[name])
    quantized = quantize_onnx(model, _inputs(model, data[0]))
    luts = [n for n in quantized.model.nodes if n.op is OpType.LUT][:E.LAYERS]
    assert len(luts) == E.LAYERS
    for node in luts:
        x, table = node.inputs
        want = T.lut_from_function(gelu, quantized.scales[x], quantized.scales[node.output])
        got = quantized.model.constants[table]
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # float32 evaluation of the ONNX body
        relu = T.lut_from_function(lambda v: np.maximum(v, 0), quantized.scales[x], quantized.scales[node.output])
        assert np.abs(got.astype(int) - relu.astype(int)).max() >= 2  # GELU's dip below zero is in the table


# -- errors ---------------------------------------------------------------------------------------------------


def test_an_op_the_importer_cannot_map_is_one_line_naming_op_and_node(data, cls_model):
    model = onnx.ModelProto()
    model.CopyFrom(cls_model)
    model.graph.node.append(helper.make_node("Hardmax", ["logits"], ["hard"], name="head_hardmax"))
    model.graph.output[0].name = "hard"
    with pytest.raises(UnsupportedOpError) as err:
        quantize_onnx(model, _inputs(model, data[0]))
    message = str(err.value)
    assert "'Hardmax'" in message and "head_hardmax" in message and "\n" not in message


def test_a_partly_matching_attention_is_reported_before_calibration(data, mean_model, monkeypatch):
    model = onnx.ModelProto()
    model.CopyFrom(mean_model[0])
    for node in model.graph.node:  # softmax over the query axis: no longer the attention pattern
        if node.name == "/layers.1/attention/Softmax":
            node.attribute[0].i = 2
    monkeypatch.setattr("opml.ml.onnx_import.activation_ranges", None)  # never reached
    with pytest.raises(UnsupportedOpError, match=r"^unsupported ONNX op '(\w+)' at \1 node '[^']+' "
                                                 r"\(not part of a recognized pattern\)"):
        quantize_onnx(model, _inputs(model, data[0]))


def test_a_mask_that_is_not_an_additive_padding_mask_is_rejected(data, cls_model):
    model = onnx.ModelProto()
    model.CopyFrom(cls_model)
    for node in model.graph.node:  # (1 − mask) · finfo.min → (1 − mask) · −1: padded keys still weigh
        if node.op_type == "Constant" and node.output[0] == "/Constant_4_output_0":
            node.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(-1.0, np.float32)))
    with pytest.raises(OnnxImportError, match="not 0 for kept and <= -10000 for padded keys"):
        quantize_onnx(model, _inputs(model, data[0]))


def test_token_packing_pads_and_rejects_long_sequences(mean_model):
    _, quantized = mean_model
    packed = pack_tokens(quantized.model, {"input_ids": [1, 5, 9], "attention_mask": [1, 1, 1],
                                           "token_type_ids": np.array([0, 0, 1])})
    assert packed.dtype == np.int32 and packed.shape == (3, E.SEQ)
    assert packed[:, :3].tolist() == [[1, 5, 9], [1, 1, 1], [0, 0, 1]] and not packed[:, 3:].any()
    with pytest.raises(InputError, match="at most 16"):
        pack_tokens(quantized.model, {"input_ids": np.ones(17, int), "attention_mask": np.ones(17, int),
                                      "token_type_ids": np.zeros(17, int)})
    with pytest.raises(InputError, match=r"\['token_type_ids'\]"):
        pack_tokens(quantized.model, {"input_ids": [1], "attention_mask": [1]})


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_imports_and_runs_an_encoder(tmp_path, capsys, data):
    calibration, test = data
    np.savez(tmp_path / "calibration.npz", **calibration)
    short = {k: v[:, :10] for k, v in test.items()}  # shorter than the model's 16: run pads
    np.savez(tmp_path / "sequences.npz", **short)
    out = tmp_path / "enc.opml"
    onnx_path = E.ENCODERS["bert_mean_erf"]
    assert model_cli(["model", "import", str(onnx_path), "--calibration", str(tmp_path / "calibration.npz"),
                      "-o", str(out)]) == 0
    assert "rows: input_ids, attention_mask, token_type_ids" in capsys.readouterr().out
    for index in (0, 5):
        assert model_cli(["model", "run", str(out), "--input", str(tmp_path / "sequences.npz"),
                          "--index", str(index)]) == 0
        printed = capsys.readouterr().out
        real = re.search(r"output \(real\): \[([^\]]*)\]", printed).group(1)
        embedding = np.array(real.split(), dtype=np.float64)
        expected = run_float(read_onnx(onnx_path), {k: v[index:index + 1] for k, v in short.items()})
        assert embedding.shape == (E.HIDDEN,) and _cosine(embedding, expected) >= COSINE_BAR

    assert model_cli(["model", "run", str(out), "--input", str(tmp_path / "sequences.npz")]) == 2
    assert "must be one sequence" in capsys.readouterr().err
    np.savez(tmp_path / "partial.npz", input_ids=test["input_ids"])
    assert model_cli(["model", "import", str(onnx_path), "--calibration", str(tmp_path / "partial.npz"),
                      "-o", str(tmp_path / "x.opml")]) == 2
    err = capsys.readouterr().err
    assert "has no arrays ['attention_mask', 'token_type_ids']" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.opml").exists()
