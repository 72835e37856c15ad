"""GGUF → LLM model file: read the weights, calibrate activation ranges on text, build the integer decode step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from opml.llm.calibrate import activation_ranges, calibration_windows, vocabulary_text
from opml.llm.gguf_import import read_gguf
from opml.llm.graph import build_decode_graph
from opml.llm.llmfile import LLMModel

Progress = Callable[[str, int, int], None]
log = structlog.get_logger(__name__)


def import_gguf(path: str | Path, calibration_text: str | None = None, progress: Progress | None = None,
                windows: int = 16) -> LLMModel:
    """The integer LLM of a llama GGUF file. Without calibration text the vocabulary itself is the text."""
    report = (lambda stage: (lambda done, total: progress(stage, done, total))) if progress else (lambda s: None)
    weights, tok = read_gguf(path, progress=report("read"))
    cfg = weights.config
    log.debug("gguf_read", path=str(path), dim=cfg.dim, layers=cfg.n_layers, vocab=cfg.vocab, tied=weights.tied)
    text = calibration_text if calibration_text is not None else vocabulary_text(tok)
    chosen = calibration_windows(tok, text, cfg.ctx, windows)
    ranges = activation_ranges(weights, chosen, progress=report("calibrate"))
    log.debug("llm_calibrated", windows=len(chosen), tokens=sum(len(w) for w in chosen))
    graph = build_decode_graph(weights, ranges, name=weights.name or Path(path).stem)
    log.info("llm_imported", nodes=len(graph.model.nodes), tensors=len(graph.model.tensors))
    return LLMModel(graph.model.name, weights.config, tok, graph.model, graph.logit_scale, graph.scales)
