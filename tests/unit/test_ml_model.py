"""The model format: round trip, and clear errors for malformed, corrupted or inconsistent models and inputs."""

from __future__ import annotations

import json
import struct
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opml.hashing import keccak
from opml.ml import InputError, Model, ModelError, Node, TensorSpec, run
from opml.ml import modelfile
from opml.ml.reference import softmax_exp_table


def small_cnn(seed: int = 0) -> Model:
    """conv -> requant+relu -> maxpool -> flatten -> fc -> requant -> softmax, argmax."""
    rng = np.random.default_rng(seed)
    tensors = [
        TensorSpec("image", "int8", (1, 1, 6, 6)),
        TensorSpec("conv.w", "int8", (3, 1, 3, 3), constant=True),
        TensorSpec("conv.b", "int32", (3,), constant=True),
        TensorSpec("conv.acc", "int32", (1, 3, 6, 6)),
        TensorSpec("conv.out", "int8", (1, 3, 6, 6)),
        TensorSpec("pool", "int8", (1, 3, 3, 3)),
        TensorSpec("flat", "int8", (1, 27)),
        TensorSpec("fc.w", "int8", (4, 27), constant=True),
        TensorSpec("fc.b", "int32", (4,), constant=True),
        TensorSpec("fc.acc", "int32", (1, 4)),
        TensorSpec("logits", "int8", (1, 4)),
        TensorSpec("exp", "int32", (256,), constant=True),
        TensorSpec("probs", "int8", (1, 4)),
        TensorSpec("label", "int32", (1,)),
    ]
    constants = {
        1: rng.integers(-128, 128, (3, 1, 3, 3), dtype=np.int8),
        2: rng.integers(-500, 500, 3, dtype=np.int32),
        7: rng.integers(-128, 128, (4, 27), dtype=np.int8),
        8: rng.integers(-500, 500, 4, dtype=np.int32),
        11: softmax_exp_table(0.08),
    }
    nodes = [
        Node.make("Conv2D", [0, 1, 2], 3, {"pads": (1, 1, 1, 1)}),
        Node.make("Requantize", [3], 4, {"multipliers": (1 << 30, 1 << 30, 1 << 30), "shifts": (6, 7, 8),
                                         "relu": True}),
        Node.make("MaxPool", [4], 5, {"kernel": (2, 2), "strides": (2, 2)}),
        Node.make("Reshape", [5], 6, {"shape": (1, 27)}),
        Node.make("FullyConnected", [6, 7, 8], 9),
        Node.make("Requantize", [9], 10, {"multipliers": (1 << 30,), "shifts": (9,)}),
        Node.make("Softmax", [10, 11], 12),
        Node.make("ArgMax", [12], 13),
    ]
    return Model("small-cnn", tensors, [0], [12, 13], nodes, constants).validate()


def image(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (1, 1, 6, 6), dtype=np.int8)


def rechecksum(body: bytes) -> bytes:
    return body + keccak(body)


def with_header(blob: bytes, edit) -> bytes:
    """A copy of a model file with its JSON header edited by `edit(dict)` (checksum and layout kept valid)."""
    _, version, length = struct.unpack_from("<8sII", blob)
    header = json.loads(blob[16:16 + length])
    edit(header)
    new = json.dumps(header).encode()
    data = blob[modelfile._align(16 + length):-32]
    head = struct.pack("<8sII", modelfile.MAGIC, version, len(new)) + new
    return rechecksum(head + bytes(modelfile._align(len(head)) - len(head)) + data)


def test_round_trip_preserves_everything(tmp_path):
    model = small_cnn()
    path = tmp_path / "m.opml"
    modelfile.save(model, path)
    loaded = modelfile.load(path)
    assert loaded.name == model.name and loaded.tensors == model.tensors and loaded.nodes == model.nodes
    assert loaded.inputs == model.inputs and loaded.outputs == model.outputs
    assert set(loaded.constants) == set(model.constants)
    for slot, data in model.constants.items():
        assert np.array_equal(loaded.constants[slot], data) and loaded.constants[slot].dtype == data.dtype
    assert modelfile.to_bytes(loaded) == path.read_bytes()  # deterministic encoding
    a, b = run(model, image()), run(loaded, image())
    assert all(np.array_equal(a.values[s], b.values[s]) for s in a.values)


def test_constants_are_aligned():
    blob = modelfile.to_bytes(small_cnn())
    header = json.loads(blob[16:16 + struct.unpack_from("<I", blob, 12)[0]])
    offsets = [t["offset"] for t in header["tensors"] if t["constant"]]
    assert offsets and all(o % modelfile.ALIGN == 0 for o in offsets)


def test_executor_records_every_node_output():
    model = small_cnn()
    trace = run(model, image())
    assert set(trace.outputs) == {n.output for n in model.nodes}
    for slot, value in trace.outputs.items():
        assert value.dtype == np.dtype(model.tensors[slot].dtype) and value.shape == model.tensors[slot].shape
    probs, label = trace.result
    assert 0 <= label[0] < 4 and probs[0, label[0]] == probs.max()
    assert run(model, {"image": image()}).result[1].tolist() == label.tolist()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 1, 6, 5), dtype=np.int8), "must be int8\\[1, 1, 6, 6\\]"),
    (np.zeros((1, 1, 6, 6), dtype=np.int32), "must be int8"),
    ([1, 2], "takes 1 inputs"),
    ("image", "takes 1 inputs"),
    ({"img": np.zeros((1, 1, 6, 6), dtype=np.int8)}, "unknown model inputs"),
    ([[1]], "numpy array"),
])
def test_wrong_input_is_rejected(bad, message):
    with pytest.raises(InputError, match=message):
        run(small_cnn(), bad)


def test_corruption_anywhere_is_detected():
    blob = modelfile.to_bytes(small_cnn())
    rng = np.random.default_rng(3)
    for pos in [*rng.integers(0, len(blob), 20), len(blob) - 1, 20, len(blob) // 2]:
        corrupted = bytearray(blob)
        corrupted[pos] ^= 0x40
        with pytest.raises(ModelError):
            modelfile.from_bytes(bytes(corrupted))
    with pytest.raises(ModelError, match="checksum"):
        modelfile.from_bytes(blob[:-100] + blob[-32:])
    with pytest.raises(ModelError, match="too short"):
        modelfile.from_bytes(blob[:20])


def test_bad_magic_and_version():
    blob = modelfile.to_bytes(small_cnn())
    with pytest.raises(ModelError, match="not an opml model"):
        modelfile.from_bytes(rechecksum(b"GGUF" + blob[4:-32]))
    with pytest.raises(ModelError, match="unsupported model format version 2"):
        modelfile.from_bytes(rechecksum(blob[:8] + struct.pack("<I", 2) + blob[12:-32]))


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        modelfile.load(tmp_path / "absent.opml")


def test_malformed_header():
    blob = modelfile.to_bytes(small_cnn())
    length = struct.unpack_from("<I", blob, 12)[0]
    garbage = blob[:16] + b"{" * length + blob[16 + length:-32]
    with pytest.raises(ModelError, match="not valid UTF-8 JSON"):
        modelfile.from_bytes(rechecksum(garbage))
    with pytest.raises(ModelError, match="schema"):
        modelfile.from_bytes(with_header(blob, lambda h: h.update(extra=1)))
    with pytest.raises(ModelError, match="schema"):
        modelfile.from_bytes(with_header(blob, lambda h: h["tensors"][0].update(shape="1x1")))


def test_unknown_op_in_file():
    blob = modelfile.to_bytes(small_cnn())
    with pytest.raises(ModelError, match="node 2: unknown op 'Gelu'"):
        modelfile.from_bytes(with_header(blob, lambda h: h["nodes"][2].update(op="Gelu")))


def test_bad_attribute_in_file():
    blob = modelfile.to_bytes(small_cnn())
    with pytest.raises(ModelError, match="node 2: MaxPool: invalid attributes"):
        modelfile.from_bytes(with_header(blob, lambda h: h["nodes"][2]["attrs"].update(kernel=[2, 0])))


def test_inconsistent_shapes_in_file():
    blob = modelfile.to_bytes(small_cnn())
    with pytest.raises(ModelError, match="node 5 \\(Requantize\\): output tensor 'logits' \\(slot 10\\) is declared"):
        modelfile.from_bytes(with_header(blob, lambda h: h["tensors"][10].update(shape=[1, 5])))


def test_constant_outside_data_section():
    blob = modelfile.to_bytes(small_cnn())
    with pytest.raises(ModelError, match="runs past"):
        modelfile.from_bytes(with_header(blob, lambda h: h["tensors"][7].update(shape=[400, 270])))


def _broken(**changes) -> Model:
    return replace(small_cnn(), **changes)


def test_consistency_errors_name_the_culprit():
    model = small_cnn()
    nodes = list(model.nodes)
    cases = [
        (_broken(nodes=[nodes[1], nodes[0], *nodes[2:]]), "node 0 \\(Requantize\\) reads tensor 'conv.acc'"),
        (_broken(nodes=nodes[:-1]), "tensor 'label' \\(slot 13\\) is neither"),
        (_broken(nodes=[*nodes, Node.make("ReLU", [12], 12)]), "writes tensor 'probs'"),
        (_broken(nodes=[Node.make("ReLU", [99], 3)]), "slot 99 does not exist"),
        (_broken(inputs=[1]), "is a constant"),
        (_broken(outputs=[]), "no outputs"),
        (_broken(constants={k: v for k, v in model.constants.items() if k != 7}), "missing \\[7\\]"),
        (_broken(constants={**model.constants, 7: model.constants[7].astype(np.int32)}), "'fc.w'.*does not match"),
        (_broken(tensors=[replace(model.tensors[0], name="conv.w"), *model.tensors[1:]]), "used twice"),
        (_broken(tensors=[replace(model.tensors[0], shape=(1, 0, 6, 6)), *model.tensors[1:]]), "dimensions >= 1"),
        (_broken(tensors=[replace(model.tensors[0], dtype="float32"), *model.tensors[1:]]), "not int8 or int32"),
        (_broken(constants={**model.constants, 11: np.zeros(256, np.int32)}), "node 6 \\(Softmax\\).*table"),
        (_broken(format_version=3), "unsupported model format version 3"),
        (_broken(nodes=[Node(nodes[0].op, nodes[0].inputs, 3), *nodes[1:]]), "attributes are NoAttrs"),
    ]
    for broken, message in cases:
        with pytest.raises(ModelError, match=message):
            broken.validate()


def test_softmax_table_must_be_constant():
    model = small_cnn()
    tensors = list(model.tensors)
    tensors[11] = replace(tensors[11], constant=False)
    constants = {k: v for k, v in model.constants.items() if k != 11}
    with pytest.raises(ModelError, match="must be a constant"):
        replace(model, tensors=tensors, constants=constants, inputs=[0, 11]).validate()


def test_invalid_model_is_never_written(tmp_path):
    with pytest.raises(ModelError):
        modelfile.save(_broken(outputs=[99]), tmp_path / "x.opml")
    assert not (tmp_path / "x.opml").exists()


def random_mlp(rng: np.random.Generator, widths: list[int], relu: bool) -> Model:
    """x -> [fc -> requantize] * len(widths)-1, per-channel multipliers; random weights."""
    tensors = [TensorSpec("x", "int8", (1, widths[0]))]
    constants, nodes = {}, []
    current = 0
    for layer, (k, o) in enumerate(zip(widths, widths[1:])):
        base = len(tensors)
        tensors += [TensorSpec(f"l{layer}.w", "int8", (o, k), True), TensorSpec(f"l{layer}.b", "int32", (o,), True),
                    TensorSpec(f"l{layer}.acc", "int32", (1, o)), TensorSpec(f"l{layer}.out", "int8", (1, o))]
        constants[base] = rng.integers(-128, 128, (o, k), dtype=np.int8)
        constants[base + 1] = rng.integers(-10_000, 10_000, o, dtype=np.int32)
        multipliers = tuple(int(m) for m in rng.integers(1 << 30, 1 << 31, o))
        shifts = tuple(int(s) for s in rng.integers(4, 12, o))
        nodes += [Node.make("FullyConnected", [current, base, base + 1], base + 2),
                  Node.make("Requantize", [base + 2], base + 3,
                            {"multipliers": multipliers, "shifts": shifts, "relu": relu})]
        current = base + 3
    return Model("mlp", tensors, [0], [current], nodes, constants).validate()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=2, max_size=5), st.booleans(), st.integers(0, 2**32 - 1))
def test_random_models_round_trip(widths, relu, seed):
    rng = np.random.default_rng(seed)
    model = random_mlp(rng, widths, relu)
    loaded = modelfile.from_bytes(modelfile.to_bytes(model))
    assert loaded.nodes == model.nodes and loaded.tensors == model.tensors
    x = rng.integers(-128, 128, (1, widths[0]), dtype=np.int8)
    assert np.array_equal(run(model, x).result[0], run(loaded, x).result[0])
