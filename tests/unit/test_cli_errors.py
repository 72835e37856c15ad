"""Bad input to every `opml` command a user hands files or values to: one line on stderr naming the problem, no
traceback, a non-zero exit status, and nothing written. The CLI runs in-process through `opml.cli.main`."""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from opml.chain.anvil import Anvil
from opml.cli import main
from opml.demos import dispute as dispute_demo
from opml.demos import kernel as demo

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
CNN = MODELS / "mnist_cnn.opml"
DATA = MODELS / "mnist_data.npz"
KERNEL = REPO / "kernels" / "build" / "relu.elf"


def fails(argv: list[str], capsys, status: int = 2) -> str:
    """Runs `opml argv`, checks the exit status and that stderr is one line; returns that line."""
    assert main([str(a) for a in argv]) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def usage_error(argv: list[str], capsys) -> str:
    """Runs `opml argv`, expecting argparse to refuse it (exit 2); returns its one `error:` line."""
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
    return errors[0]


# -- opml vm run --------------------------------------------------------------------------------------------


def _elf_variant(tmp_path: Path, name: str) -> Path:
    data = bytearray(KERNEL.read_bytes())
    variants = {
        "text": b"#!/bin/sh\necho not a program\n",
        "big-endian": bytes(data[:5]) + b"\x02" + bytes(data[6:]),
        "64-bit": bytes(data[:4]) + b"\x02" + bytes(data[5:]),
        "x86": bytes(data[:18]) + (3).to_bytes(2, "little") + bytes(data[20:]),
        "truncated header": bytes(data[:40]),
        "truncated segment": bytes(data[:100]),
        "empty": b"",
    }
    path = tmp_path / f"{name.replace(' ', '_')}.elf"
    path.write_bytes(variants[name])
    return path


@pytest.mark.parametrize("variant, says", [
    ("text", "found no ELF header"),
    ("big-endian", "big-endian"),
    ("64-bit", "64-bit"),
    ("x86", "e_machine 3"),
    ("truncated header", "truncated ELF header"),
    ("truncated segment", "truncated"),
    ("empty", "no ELF header"),
])
def test_vm_run_rejects_what_is_not_a_mipsel_program(tmp_path, capsys, variant, says) -> None:
    path = _elf_variant(tmp_path, variant)
    line = fails(["vm", "run", path], capsys)
    assert line.startswith(f"opml vm run: {path}: ") and says in line, line


def test_vm_run_names_a_missing_file_and_a_directory(tmp_path, capsys) -> None:
    assert "cannot read (No such file or directory)" in fails(["vm", "run", tmp_path / "nope.elf"], capsys)
    assert "cannot read (Is a directory)" in fails(["vm", "run", tmp_path], capsys)


@pytest.mark.parametrize("steps, says", [("-1", "-1 is negative"), ("ten", "'ten' is not an integer")])
def test_vm_run_rejects_a_bad_step_limit(capsys, steps, says) -> None:
    assert says in usage_error(["vm", "run", KERNEL, "--max-steps", steps], capsys)


# -- opml model run -----------------------------------------------------------------------------------------


def _npy(tmp_path: Path, name: str, value: np.ndarray) -> Path:
    path = tmp_path / name
    np.save(path, value)
    return path


def test_model_run_rejects_inputs_of_the_wrong_shape(tmp_path, capsys) -> None:
    floats = _npy(tmp_path, "f.npy", np.zeros((3, 5), np.float32))
    assert "input has 15 values" in fails(["model", "run", CNN, "--input", floats], capsys)
    int8 = _npy(tmp_path, "q.npy", np.zeros(783, np.int8))
    assert "int8 input has 783 values" in fails(["model", "run", CNN, "--input", int8], capsys)
    batch = f"{DATA}:test_x"
    assert "input has 1568000 values" in fails(["model", "run", CNN, "--input", batch], capsys)


def test_model_run_rejects_values_that_are_not_finite_numbers(tmp_path, capsys) -> None:
    nan = _npy(tmp_path, "nan.npy", np.full((1, 1, 28, 28), np.nan, np.float32))
    assert "NaN or infinite" in fails(["model", "run", CNN, "--input", nan], capsys)
    text = _npy(tmp_path, "s.npy", np.array(["7"] * 784))
    assert "not numbers" in fails(["model", "run", CNN, "--input", text], capsys)
    pickled = tmp_path / "o.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "cannot read" in fails(["model", "run", CNN, "--input", pickled], capsys)


@pytest.mark.parametrize("spec, says", [
    ("{data}:nokey", "has no array 'nokey'"),
    ("{data}", "name one as"),
    ("{tmp}/missing.npz:x", "cannot read"),
    ("{tmp}/digit.txt", "unsupported array file type '.txt'"),
    ("{tmp}/digit", "unsupported array file type '(no suffix)'"),
])
def test_model_run_rejects_a_bad_file_key(tmp_path, capsys, spec, says) -> None:
    (tmp_path / "digit.txt").write_text("0 " * 784)
    (tmp_path / "digit").write_bytes(bytes(784))
    line = fails(["model", "run", CNN, "--input", spec.format(data=DATA, tmp=tmp_path)], capsys)
    assert line.startswith("opml model run: ") and says in line, line


@pytest.mark.parametrize("index", ["2000", "-1"])
def test_model_run_rejects_an_index_outside_the_batch(capsys, index) -> None:
    line = fails(["model", "run", CNN, "--input", f"{DATA}:test_x", "--index", index], capsys)
    assert f"--index {index} is outside the 2000 inputs" in line


def test_model_run_rejects_an_index_into_a_single_value(tmp_path, capsys) -> None:
    scalar = _npy(tmp_path, "one.npy", np.float32(0.5))
    assert "outside the 0 inputs" in fails(["model", "run", CNN, "--input", scalar, "--index", "0"], capsys)


def _copy_model(tmp_path: Path, mutate=None) -> Path:  # noqa: ANN001
    path = tmp_path / "m.opml"
    data = bytearray(CNN.read_bytes())
    path.write_bytes(bytes(mutate(data) if mutate else data))
    shutil.copy(CNN.with_suffix(".scales.json"), tmp_path / "m.scales.json")
    return path


def _flip(data: bytearray) -> bytearray:
    data[len(data) // 2] ^= 0x40
    return data


@pytest.mark.parametrize("mutate, says", [
    (_flip, "checksum mismatch"),
    (lambda d: d[: len(d) // 3], "checksum mismatch"),
    (lambda d: d[:12], "too short"),
    (lambda d: b"GGUF" + d[4:], "not an opml model file"),
])
def test_model_run_rejects_a_corrupted_model(tmp_path, capsys, mutate, says) -> None:
    digit = _npy(tmp_path, "d.npy", np.zeros((28, 28), np.uint8))
    assert says in fails(["model", "run", _copy_model(tmp_path, mutate), "--input", digit], capsys)


def test_model_run_names_a_missing_model_or_scales_file(tmp_path, capsys) -> None:
    digit = _npy(tmp_path, "d.npy", np.zeros((28, 28), np.uint8))
    assert "missing.opml" in fails(["model", "run", tmp_path / "missing.opml", "--input", digit], capsys)
    model = _copy_model(tmp_path)
    (tmp_path / "m.scales.json").unlink()
    assert "m.scales.json" in fails(["model", "run", model, "--input", digit], capsys)
    (tmp_path / "m.scales.json").write_text("{not json")
    assert "not valid JSON" in fails(["model", "run", model, "--input", digit], capsys)


# -- opml model import --------------------------------------------------------------------------------------


def _onnx(tmp_path: Path, op: str) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / f"{op.lower()}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


def _import(tmp_path: Path, onnx_path: Path, *extra: object) -> list[object]:
    calibration = _npy(tmp_path, "calib.npy", np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32))
    return ["model", "import", onnx_path, "--calibration", calibration, "-o", tmp_path / "out.opml", *extra]


def test_model_import_rejects_what_is_not_onnx(tmp_path, capsys) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(KERNEL.read_bytes())
    assert "not a valid ONNX model" in fails(_import(tmp_path, fake), capsys)
    half = tmp_path / "half.onnx"
    half.write_bytes((MODELS / "mnist_cnn.onnx").read_bytes()[:5000])
    assert "not a valid ONNX model" in fails(_import(tmp_path, half), capsys)
    assert "no such ONNX file" in fails(_import(tmp_path, tmp_path / "missing.onnx"), capsys)
    assert not (tmp_path / "out.opml").exists()


def test_model_import_names_an_unsupported_op(tmp_path, capsys) -> None:
    line = fails(_import(tmp_path, _onnx(tmp_path, "Sin")), capsys)
    assert "unsupported ONNX op 'Sin'" in line and "supported: " in line
    assert not (tmp_path / "out.opml").exists()


def test_model_import_checks_every_file_before_writing(tmp_path, capsys) -> None:
    relu = _onnx(tmp_path, "Relu")
    (tmp_path / "test.npz").write_bytes(b"not a zip")
    assert "cannot read test set" in fails(_import(tmp_path, relu, "--test", tmp_path / "test.npz"), capsys)
    np.savez(tmp_path / "test.npz", a=np.zeros(3))
    assert "needs arrays (x, y)" in fails(_import(tmp_path, relu, "--test", tmp_path / "test.npz"), capsys)
    assert not (tmp_path / "out.opml").exists()
    argv = _import(tmp_path, relu)
    argv[-1] = tmp_path / "no-such-dir" / "out.opml"
    assert "cannot write" in fails(argv, capsys)
    argv[-1] = tmp_path
    assert "cannot write" in fails(argv, capsys)


def test_model_import_rejects_bad_calibration(tmp_path, capsys) -> None:
    relu = _onnx(tmp_path, "Relu")
    argv = _import(tmp_path, relu)
    argv[4] = _npy(tmp_path, "nan.npy", np.full((4, 4), np.inf, np.float32))
    assert "NaN or infinite" in fails(argv, capsys)
    argv[4] = _npy(tmp_path, "shape.npy", np.zeros((4, 5), np.float32))
    assert "calibration" in fails(argv, capsys)


@pytest.mark.parametrize("value", ["0", "101", "many"])
def test_model_import_rejects_a_bad_percentile(tmp_path, capsys, value) -> None:
    argv = _import(tmp_path, _onnx(tmp_path, "Relu"), "--method", "percentile", "--percentile", value)
    assert "--percentile" in usage_error(argv, capsys)


# -- opml levels commit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, says", [
    (b"garbage" * 20, "not an opml model file"),
    (b"tiny", "too short"),
    (None, "No such file"),
])
def test_levels_commit_rejects_garbage(tmp_path, capsys, content, says) -> None:
    path = tmp_path / "model.opml"
    if content is not None:
        path.write_bytes(content)
    line = fails(["levels", "commit", path], capsys, status=1)
    assert line.startswith("opml levels commit: ") and says in line, line


def test_levels_commit_rejects_a_corrupted_model_and_bad_inputs(tmp_path, capsys) -> None:
    assert "checksum mismatch" in fails(["levels", "commit", _copy_model(tmp_path, _flip)], capsys, status=1)
    pickled = tmp_path / "o.npy"
    np.save(pickled, np.array([None] * 784, dtype=object), allow_pickle=True)
    line = fails(["levels", "commit", CNN, "--input", pickled], capsys, status=1)
    assert f"input {pickled}" in line
    short = _npy(tmp_path, "short.npy", np.zeros(10, np.int8))
    assert "10 bytes" in fails(["levels", "commit", CNN, "--input", short], capsys, status=1)
    assert "cannot read input" in fails(["levels", "commit", CNN, "--input", tmp_path / "x.bin"], capsys, status=1)


@pytest.mark.parametrize("tiles, says", [("0", "not a positive count"), ("x", "not an integer")])
def test_levels_commit_rejects_a_bad_tile_count(capsys, tiles, says) -> None:
    assert says in usage_error(["levels", "commit", CNN, "--max-tiles", tiles], capsys)


# -- opml dispute-demo --------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, says", [
    (["--fault", "everywhere"], "invalid choice: 'everywhere'"),
    (["--fault", "vm", "--liar", "requester"], "invalid choice: 'requester'"),
    (["--fault", "vm", "--seed", "seven"], "invalid int value: 'seven'"),
    ([], "the following arguments are required: --fault"),
])
def test_dispute_demo_rejects_bad_arguments(capsys, argv, says) -> None:
    assert says in usage_error(["dispute-demo", *argv], capsys)


def test_dispute_demo_without_a_chain_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(dispute_demo, "Anvil", functools.partial(Anvil, binary=tmp_path / "no-anvil"))
    line = fails(["dispute-demo", "--fault", "vm", "--seed", "3"], capsys)
    assert line.startswith("opml dispute-demo: AnvilError: anvil binary not found"), line


# -- opml demo ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, says", [
    (["--shape", "0", "1", "1"], "argument --shape: 0 is less than 1"),
    (["--shape", "2", "x", "2"], "argument --shape: 'x' is not an integer"),
    (["--trace-depth", "64"], "argument --trace-depth: 64 is more than 63"),
    (["--lie-at", "-5"], "argument --lie-at: -5 is less than 1"),
])
def test_kernel_demo_rejects_bad_arguments(capsys, argv, says) -> None:
    assert says in usage_error(["demo", "--kernel", *argv], capsys)


def test_kernel_demo_without_a_chain_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(demo, "Anvil", functools.partial(Anvil, binary=tmp_path / "no-anvil"))
    line = fails(["demo", "--kernel", "--seed", "1"], capsys)
    assert line.startswith("opml demo: anvil binary not found"), line


# -- every command ------------------------------------------------------------------------------------------


class _ClosedPipe:
    """A stdout whose reader has gone away (`opml ... | head -1`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_quietly(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["levels", "commit", str(CNN)]) == 141
    assert capsys.readouterr().err == ""


class _FullDisk:
    """A stdout on a device with no space left (`opml ... > /full/file`)."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_an_unwritable_stdout_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert main(["levels", "commit", str(CNN)]) == 2
    assert capsys.readouterr().err.strip() == "opml levels: No space left on device"
