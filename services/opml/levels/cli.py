"""`opml levels commit MODEL`: the roots a model is registered with (graphRoot, constantsRoot, kernelSetRoot),
its tiling plan, and optionally the anchor of a request input — what `ModelRegistry.registerModel` takes and
what every node recomputes from the model file. For an LLM file: the roots of its decode-step graph for
generation requests, the LlmGraph fields (named slots, ctx, vocab) and, with `--input`, a generation request's
anchor."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import structlog

from opml.cliargs import integer
from opml.llm.llmfile import is_llm_file
from opml.llm.llmfile import load as load_llm
from opml.ml.errors import MLError
from opml.ml import modelfile

from .commitments import CommitmentError, GraphCommitment, commit_model, tensor_commitment
from .llm_commitment import LlmCommitment, commit_llm, input_commitment
from .request_level import input_from_bytes
from .tiling import DEFAULT_TILING, TilingPolicy


def register(subparsers) -> None:  # noqa: ANN001
    parser = subparsers.add_parser("levels", help="commitments of models for the ML dispute levels")
    commands = parser.add_subparsers(dest="levels_command", required=True)
    commit = commands.add_parser("commit", help="a model's registry roots and tiling plan (JSON)")
    commit.add_argument("model", type=Path, help="model file (.opml)")
    commit.add_argument("--max-tiles", type=integer(1, below="is not a positive count"), default=DEFAULT_TILING.max_tiles, help="tiles per node at most")
    commit.add_argument("--input", type=Path, help="a request input (.npy, or raw bytes): also print its anchor")
    commit.set_defaults(func=cmd_commit)


@contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Within the block, warnings and errors only, on stderr (stdout carries the command's output); the previous
    structlog configuration is restored afterwards."""
    was_configured, saved = structlog.is_configured(), structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def cmd_commit(args) -> int:  # noqa: ANN001
    with logs_to_stderr():
        return _commit(args)


def _commit(args) -> int:  # noqa: ANN001
    try:
        c: GraphCommitment
        if is_llm_file(args.model):
            c = commit_llm(load_llm(args.model), TilingPolicy(max_tiles=args.max_tiles))
        else:
            c = commit_model(modelfile.load(args.model), TilingPolicy(max_tiles=args.max_tiles))
        report = {
            "model": c.model.name,
            "graphRoot": "0x" + c.graph_root.hex(),
            "constantsRoot": "0x" + c.constants_root.hex(),
            "kernelSetRoot": "0x" + c.kernels_root.hex(),
            "nodes": [{"op": node.op.value, "tiles": plan.tile_count, "tileElems": plan.tile_elems,
                       "vmDepth": plan.vm_depth} for node, plan in zip(c.model.nodes, c.plans)],
        }
        if isinstance(c, LlmCommitment):
            report["llmGraph"] = _llm_graph(c)
        if args.input is not None and isinstance(c, LlmCommitment):
            data = _read_generation(c, args.input)
            report["inputCommitment"] = "0x" + input_commitment(data).hex()
            report["anchor"] = "0x" + c.anchor(input_commitment(data)).hex()
        elif args.input is not None:
            value = _read_input(c, args.input)
            report["inputCommitment"] = "0x" + tensor_commitment(value).hex()
            report["anchor"] = "0x" + c.anchor(tensor_commitment(value)).hex()
    except (MLError, CommitmentError, OSError, ValueError) as exc:
        print(f"opml levels commit: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


def _read_input(c, path: Path) -> np.ndarray:  # noqa: ANN001
    """The request input tensor from an .npy array's bytes or a file's raw bytes; errors name the file."""
    try:
        if path.suffix == ".npy":
            return input_from_bytes(c, np.ascontiguousarray(np.load(path, allow_pickle=False)).tobytes())
        return input_from_bytes(c, path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read input {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # InputError (wrong size) included
        raise ValueError(f"input {path}: {exc}") from None


def _llm_graph(c: LlmCommitment) -> dict:
    g = c.graph
    return {"nodesRoot": "0x" + g.nodes_root.hex(), "nodeCount": g.node_count, "slotDepth": g.slot_depth,
            "tokenSlot": g.token_slot, "positionSlot": g.position_slot, "samplingSlot": g.sampling_slot,
            "nextTokenSlot": g.next_token_slot, "cacheSlots": list(g.cache_slots),
            "cacheOutSlots": list(g.cache_out_slots), "ctx": g.ctx, "vocab": g.vocab}


def _read_generation(c: LlmCommitment, path: Path) -> bytes:
    """A generation request's raw input bytes, checked against the model; errors name the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read input {path}: {exc.strerror or exc}") from None
    try:
        c.request(data)
    except ValueError as exc:
        raise ValueError(f"input {path}: {exc}") from None
    return data
