"""`opml generate MODEL --prompt TEXT` and the GGUF branch of `opml model import`.

    opml model import MODEL.gguf -o MODEL.opml [--calibration TEXT.txt]
    opml generate MODEL.opml --prompt TEXT [--max-tokens N] [--temperature T --seed S]

Bad input (unsupported GGUF, truncated file, prompt longer than the context, unreadable model) is one line on
stderr and exit status 2; an import writes its output only when everything succeeded.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import tempfile
import time
from pathlib import Path

from opml.cliargs import integer
from opml.llm.gguf_import import GGUFImportError
from opml.llm.importer import import_gguf
from opml.llm.llmfile import LLMFileError, load, save
from opml.llm.fast import FastLlama
from opml.llm.runtime import PromptTooLongError, SamplingError, generate, prompt_ids, temperature_q16
from opml.ml import cli as ml_cli
from opml.ml.errors import MLError

STAGES = {"read": "reading GGUF tensors", "calibrate": "calibrating on text"}


def register(subparsers) -> None:
    ml_cli.register_importer(".gguf", _guarded("model import", cmd_import_gguf))
    gen = subparsers.add_parser("generate", help="generate text with an integer LLM (greedy or seeded sampling)")
    gen.add_argument("model", type=Path, help="LLM model file (from `opml model import X.gguf`)")
    gen.add_argument("--prompt", required=True, help="text to continue")
    gen.add_argument("--max-tokens", type=integer(0, below="is negative"), default=32,
                     help="tokens to generate (default 32)")
    gen.add_argument("--temperature", type=_temperature, default=0.0,
                     help="0 = greedy (default); > 0 samples (rounded once to Q16.16)")
    gen.add_argument("--seed", type=integer(0, (1 << 64) - 1, below="is negative", above="does not fit 64 bits"), default=0,
                     help="sampler seed, 0 … 2^64 − 1 (with --temperature > 0)")
    gen.set_defaults(func=_guarded("generate", cmd_generate))


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    try:
        temperature_q16(value)
    except SamplingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _guarded(label: str, command):
    def guarded(args: argparse.Namespace) -> int:
        with ml_cli.info_logs():
            try:
                return command(args)
            except (MLError, GGUFImportError, PromptTooLongError) as exc:
                message = str(exc)
            except OSError as exc:
                message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
            except UnicodeDecodeError as exc:
                message = f"calibration text is not UTF-8 ({exc.reason} at byte {exc.start})"
            print(f"opml {label}: {message}", file=sys.stderr)
            return 2

    return guarded


def _progress():
    """A rich progress bar on stderr; returns (context manager, callback(stage, done, total))."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done)

    return bar, update


def cmd_import_gguf(args: argparse.Namespace) -> int:
    text = Path(args.calibration).read_text(encoding="utf-8") if args.calibration else None
    out: Path = args.output
    if not out.parent.is_dir():
        raise LLMFileError(f"cannot write {out}: no directory {out.parent}")
    started = time.perf_counter()
    bar, update = _progress()
    with bar:
        llm = import_gguf(args.onnx, text, progress=update)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    os.close(fd)
    try:
        save(llm, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file's mode, not mkstemp's private 0600
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    cfg = llm.config
    print(f"imported {args.onnx} → {out}: llama dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads / "
          f"{cfg.n_kv_heads} kv heads, vocab {cfg.vocab}, context {cfg.ctx}; decode step of "
          f"{len(llm.graph.nodes)} nodes ({time.perf_counter() - started:.1f} s, calibration: "
          f"{args.calibration or 'the vocabulary'})")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    llm = load(args.model)
    prompt_ids(llm, args.prompt)  # a prompt that does not fit fails before anything is printed
    model = FastLlama(llm)  # the reference runtime's bits (tests/differential/test_llm_fast.py), faster
    tok = llm.tokenizer
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    for token in generate(model, args.prompt, args.max_tokens, args.temperature, args.seed):
        sys.stdout.write(decoder.decode(tok.token_bytes(token)))
        sys.stdout.flush()
    sys.stdout.write(decoder.decode(b"", final=True) + "\n")
    return 0
