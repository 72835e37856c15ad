"""`opml model ...`: import an ONNX model into a quantized integer model, and run one.

    opml model import MODEL.onnx --calibration FILE[:KEY] -o OUT.opml [--test FILE.npz] [--method maxabs]
    opml model run OUT.opml --input FILE[:KEY] [--index I] [--trace] [--vm]

Array files: .npy, .npz (KEY names the array; default: the only one), .json (a nested list of numbers), .png
(8-bit grey or RGB(A), read as uint8 grey pixels).
uint8 arrays are pixels (→ pixel/255); int8 arrays given to `run` are already the model's quantized input;
anything else is a float input. A test file is an .npz with (x, y) or (test_x, test_y).

Encoders (ONNX graphs whose inputs are integer token tensors: input_ids, attention_mask, …) take an .npz holding
one integer array per input name, batch first ([N, S]) for `import --calibration`, one sequence ([S], or [N, S]
with --index) for `run`; `run` prints the pooled embedding or the classifier output (docs/encoders.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import structlog

from ..hashing import keccak
from ..kernels import KernelNotFoundError
from . import executor
from .accuracy import accuracy, as_float_input, predict_float, predict_int8
from .encoder_input import is_encoder, pack_tokens, token_rows
from .errors import MLError
from .onnx_graph import collect_constants, token_inputs
from .onnx_import import quantize_onnx, read_onnx
from .png import read_png
from .scales import QuantizedModel

TEST_KEYS = (("x", "y"), ("test_x", "test_y"))
ARRAY_SUFFIXES = (".npy", ".npz", ".json", ".png")


class ArrayFileError(MLError, ValueError):
    """An input/calibration/test file that cannot be read as the expected array(s)."""


# Importers for other model formats, by file suffix: a higher layer registers one (e.g. ".gguf" from opml.llm)
# so that `opml model import` stays one command. Each takes the parsed arguments and returns the exit status.
IMPORTERS: dict[str, object] = {}


def register_importer(suffix: str, command) -> None:
    IMPORTERS[suffix] = command


def register(subparsers) -> None:
    parser = subparsers.add_parser("model", help="import ONNX models and run quantized integer models")
    commands = parser.add_subparsers(dest="model_command", required=True)

    imp = commands.add_parser("import", help="ONNX (or GGUF) → quantized integer model (post-training quantization)")
    imp.add_argument("onnx", type=Path, help="float ONNX model (or a llama GGUF file, see docs/llm.md)")
    imp.add_argument("--calibration", help="calibration inputs FILE[:KEY] (batch first; required for ONNX); "
                                           "for GGUF a UTF-8 text file")
    imp.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.opml)")
    imp.add_argument("--test", type=Path, help="labelled test set (.npz): print float vs int8 accuracy")
    imp.add_argument("--method", choices=("maxabs", "percentile"), default="maxabs", help="activation ranges")
    imp.add_argument("--percentile", type=_percentile, default=99.99, help="with --method percentile (0, 100]")
    imp.set_defaults(func=_guarded(cmd_import))

    run = commands.add_parser("run", help="run a quantized model natively (and optionally in the MIPS VM)")
    run.add_argument("model", type=Path, help="model file (.opml, with its .scales.json)")
    run.add_argument("--input", required=True, help="input FILE[:KEY] (.npy, .npz, .json, .png)")
    run.add_argument("--index", type=int, help="pick item INDEX of a batch of inputs")
    run.add_argument("--trace", action="store_true", help="print a summary of every node's output")
    run.add_argument("--vm", action="store_true", help="recompute every node in the MIPS VM and compare")
    run.set_defaults(func=_guarded(cmd_run))


def _percentile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 100]")
    return value


@contextmanager
def info_logs():
    """Within the block, drop debug events (per-node runtime logs) unless logging was configured elsewhere."""
    if structlog.is_configured():
        yield
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        yield
    finally:
        structlog.reset_defaults()


def _guarded(command):
    """Run `command` with info-level logs; an MLError or a file that cannot be written becomes one line on
    stderr, `opml model COMMAND: what went wrong`, and exit status 2."""

    def guarded(args: argparse.Namespace) -> int:
        with info_logs():
            try:
                return command(args)
            except (MLError, KernelNotFoundError) as exc:
                message = str(exc)
            except OSError as exc:
                message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
            print(f"opml model {args.model_command}: {message}", file=sys.stderr)
            return 2

    return guarded


# -- files --------------------------------------------------------------------------------------------------


def _json_array(path: Path) -> np.ndarray:
    try:
        value = json.loads(path.read_text())
        if not isinstance(value, list):
            raise TypeError(f"the top level is a {type(value).__name__}")
        return np.asarray(value, dtype=np.float64)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ArrayFileError(f"{path}: expected a JSON nested list of numbers ({exc})") from None


def _numeric(array: np.ndarray, name: str) -> np.ndarray:
    """`array` if it holds numbers (ArrayFileError otherwise: strings, records, ...)."""
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ArrayFileError(f"{name} holds {array.dtype} values, not numbers")
    return array


def read_array(spec: str) -> np.ndarray:
    """The numeric array named by FILE[:KEY] (ArrayFileError if it cannot be read)."""
    path, _, key = spec.rpartition(":") if ":" in Path(spec).name else (spec, "", "")
    path = Path(path)
    if path.suffix not in ARRAY_SUFFIXES:
        raise ArrayFileError(f"{path}: unsupported array file type {path.suffix or '(no suffix)'!r} "
                             f"(expected one of {', '.join(ARRAY_SUFFIXES)})")
    try:
        if path.suffix == ".json":
            return _json_array(path)
        if path.suffix == ".png":
            return read_png(path)
        loaded = np.load(path, allow_pickle=False)
    except MLError:
        raise
    except OSError as exc:
        raise ArrayFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ArrayFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return _numeric(loaded, str(path))
    with loaded:
        if not key and len(loaded.files) != 1:
            raise ArrayFileError(f"{path} holds {loaded.files}; name one as {path}:KEY")
        key = key or loaded.files[0]
        if key not in loaded.files:
            raise ArrayFileError(f"{path} has no array {key!r} (it holds {loaded.files})")
        try:
            return _numeric(loaded[key], f"{path}:{key}")
        except (OSError, ValueError) as exc:
            raise ArrayFileError(f"cannot read {path}:{key}: {exc}") from None


def read_named_arrays(spec: str, names: list[str]) -> dict[str, np.ndarray]:
    """The integer arrays named `names` in the .npz file `spec` (an encoder's token inputs)."""
    path = Path(spec)
    if path.suffix != ".npz":
        raise ArrayFileError(f"{path}: an encoder's inputs come in an .npz holding the arrays {names}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                raise ArrayFileError(f"{path} has no arrays {missing} (it holds {data.files}); the encoder takes "
                                     f"{names}")
            arrays = {n: _numeric(data[n], f"{path}:{n}") for n in names}
    except OSError as exc:
        raise ArrayFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ArrayFileError(f"cannot read {path}: {exc}") from None
    for name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.integer):
            raise ArrayFileError(f"{path}:{name} holds {array.dtype} values; token inputs are integers")
    return arrays


def read_test_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            for x_key, y_key in TEST_KEYS:
                if x_key in data.files and y_key in data.files:
                    return data[x_key], data[y_key]
            files = data.files
    except OSError as exc:
        raise ArrayFileError(f"cannot read test set {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ArrayFileError(f"cannot read test set {path}: {exc}") from None
    raise ArrayFileError(f"test set {path} needs arrays (x, y) or (test_x, test_y); it holds {files}")


# -- import -------------------------------------------------------------------------------------------------


def _finite(x: np.ndarray, name: str) -> np.ndarray:
    """`x` if every value is finite (ArrayFileError naming `name` otherwise)."""
    if not np.all(np.isfinite(x)):
        raise ArrayFileError(f"{name} holds NaN or infinite values")
    return x


def cmd_import(args: argparse.Namespace) -> int:
    """Every input file is read and checked before anything is imported or written."""
    if args.onnx.suffix in IMPORTERS:
        return IMPORTERS[args.onnx.suffix](args)
    if args.calibration is None:
        raise ArrayFileError("--calibration FILE[:KEY] is required to import an ONNX model")
    onnx_model = read_onnx(args.onnx)
    tokens = token_inputs(onnx_model, collect_constants(onnx_model))
    if tokens is None:
        calibration = _finite(as_float_input(read_array(args.calibration)), f"calibration {args.calibration}")
    else:
        calibration = read_named_arrays(args.calibration, tokens)
        if args.test:
            raise ArrayFileError("--test (classification accuracy) is for image models, not encoders")
    test_set = read_test_set(args.test) if args.test else None
    if not args.output.parent.is_dir():
        raise ArrayFileError(f"cannot write {args.output}: no directory {args.output.parent}")
    started = time.perf_counter()
    quantized = quantize_onnx(onnx_model, calibration, name=args.onnx.stem, method=args.method,
                              percentile=args.percentile)
    try:
        quantized.save(args.output)
    except OSError as exc:
        raise ArrayFileError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    model = quantized.model
    print(f"imported {args.onnx} → {args.output}: {len(model.nodes)} nodes, {len(model.tensors)} tensors, "
          f"{sum(c.nbytes for c in model.constants.values())} constant bytes "
          f"({time.perf_counter() - started:.2f} s, {_items(calibration)} calibration inputs, {args.method})")
    out_scale = "none (index output)" if quantized.output_scale is None else f"{quantized.output_scale:.6g}"
    if is_encoder(model):
        spec = model.tensors[model.inputs[0]]
        print(f"input {spec.name} {spec.type} (rows: {', '.join(token_rows(model))}), output scale {out_scale}")
    else:
        print(f"input scale {quantized.input_scale:.6g}, output scale {out_scale}")
    if test_set is not None:
        x, y = test_set
        fp32 = accuracy(predict_float(read_onnx(args.onnx), x), y)
        int8 = accuracy(predict_int8(quantized, x), y)
        print(f"accuracy on {len(y)} test inputs: float {fp32:.4f}, int8 {int8:.4f} "
              f"(difference {100 * (int8 - fp32):+.2f} points)")
    return 0


def _items(calibration) -> int:
    return len(next(iter(calibration.values()))) if isinstance(calibration, dict) else len(calibration)


# -- run ----------------------------------------------------------------------------------------------------


def encoder_input(quantized: QuantizedModel, spec: str, index: int | None) -> np.ndarray:
    """The packed int32 token input of an encoder from an .npz of per-input sequences (item `index` of a batch)."""
    arrays = read_named_arrays(spec, token_rows(quantized.model))
    if index is not None:
        for name, array in arrays.items():
            if array.ndim != 2 or not 0 <= index < len(array):
                count = len(array) if array.ndim == 2 else 0
                raise ArrayFileError(f"--index {index} is outside the {count} sequences of {name}")
        arrays = {name: array[index] for name, array in arrays.items()}
    return pack_tokens(quantized.model, arrays)



def model_input(quantized: QuantizedModel, raw: np.ndarray, index: int | None) -> np.ndarray:
    """The int8 model input from a file's array (optionally item `index` of a batch)."""
    if index is not None:
        if raw.ndim == 0 or not 0 <= index < len(raw):
            count = len(raw) if raw.ndim else 0
            raise ArrayFileError(f"--index {index} is outside the {count} inputs in the file")
        raw = raw[index]
    spec = quantized.model.tensors[quantized.model.inputs[0]]
    if raw.dtype == np.int8:
        if raw.size != spec.type.size:
            raise ArrayFileError(f"int8 input has {raw.size} values, the model input needs {spec.type}")
        return raw.reshape(spec.shape)
    return quantized.quantize_input(_finite(as_float_input(raw), "the input"))


def _summary(value: np.ndarray) -> str:
    digest = keccak(np.ascontiguousarray(value).tobytes()).hex()[:16]
    return (f"{value.dtype}{list(value.shape)} min {int(value.min())} max {int(value.max())} "
            f"mean {float(value.mean()):.3f} keccak {digest}")


def print_trace(quantized: QuantizedModel, trace: executor.Trace) -> None:
    model = quantized.model
    for index, node in enumerate(model.nodes):
        name = model.tensors[node.output].name
        print(f"  [{index}] {node.op.value:<15} {name:<28} {_summary(trace.outputs[node.output])}")


def vm_check(quantized: QuantizedModel, trace: executor.Trace) -> bool:
    """Recompute every node in the MIPS VM from the native trace's inputs; print and return whether all match."""
    from .vmrun import run_node

    model, ok, total_steps = quantized.model, True, 0
    for index, node in enumerate(model.nodes):
        started = time.perf_counter()
        result = run_node(node, trace.node_inputs(index))
        native = trace.outputs[node.output]
        same = result.output.dtype == native.dtype and np.array_equal(result.output, native)
        ok &= same
        total_steps += result.steps
        print(f"  [{index}] {node.op.value:<15} {'match' if same else 'MISMATCH':<8} {result.steps:>10} steps "
              f"{time.perf_counter() - started:8.3f} s")
    print(f"VM: {'every node matches' if ok else 'MISMATCH'} ({total_steps} steps in all)")
    return ok


def cmd_run(args: argparse.Namespace) -> int:
    quantized = QuantizedModel.load(args.model)
    if is_encoder(quantized.model):
        x = encoder_input(quantized, args.input, args.index)
    else:
        x = model_input(quantized, read_array(args.input), args.index)
    trace = executor.run(quantized.model, x)
    output = trace.result[0]
    if args.trace:
        print_trace(quantized, trace)
    if quantized.output_scale is None:
        print(f"output (index): {output.reshape(-1).tolist()}")
    else:
        real = quantized.dequantize_output(output).reshape(-1)
        print(f"output (int8): {output.reshape(-1).tolist()}")
        print(f"output (real): {np.array2string(real, precision=3, max_line_width=200)}")
        print(f"argmax: {int(np.argmax(output))}")
    if args.vm and not vm_check(quantized, trace):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opml")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
