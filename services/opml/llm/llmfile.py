"""The LLM model file: the integer decode-step graph with what a generator needs around it.

    offset  size  field
    0       8     magic b"OPMLLLM1"
    8       4     format version (u32 little-endian)
    12      4     header length H (u32 little-endian)
    16      H     header: UTF-8 JSON — name, config (llama shape), tokenizer (tokens, merges, token types, bos/eos
                  ids), logit_scale, activation scales, graph_bytes G
    16+H    G     the decode-step graph as an opml model file (opml.ml.modelfile: its own magic and checksum);
                  inputs token / position / k_cache.i / v_cache.i / sampling, outputs logits / k_cache_out.i /
                  v_cache_out.i / next_token
    end−32  32    keccak256 of every byte before it

Loading checks the checksum, the header schema, the graph file, and that the graph's inputs and outputs are the
ones the config implies. Every failure is an LLMFileError with one line saying what is wrong.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from opml.hashing import keccak
from opml.llm.gguf_import import LlamaConfig
from opml.llm.graph import LOGITS, NEXT_TOKEN, POSITION, SAMPLING, TOKEN, k_cache_name, v_cache_name
from opml.llm.tokenizer import Tokenizer
from opml.ml import modelfile
from opml.ml.errors import MLError
from opml.ml.model import Model

MAGIC = b"OPMLLLM1"
VERSION = 2  # 1: a decode step without the sampling input and the next_token output
_PREFIX = struct.Struct("<8sII")
CHECKSUM_BYTES = 32


class LLMFileError(MLError):
    """An LLM model file that cannot be read; one line naming the cause."""


@dataclass
class LLMModel:
    name: str
    config: LlamaConfig
    tokenizer: Tokenizer
    graph: Model
    logit_scale: float
    scales: dict[str, float]


def expected_io(cfg: LlamaConfig) -> tuple[list[str], list[str]]:
    """The graph's input and output names, in order."""
    ins, outs = [TOKEN, POSITION], [LOGITS]
    for i in range(cfg.n_layers):
        ins += [k_cache_name(i), v_cache_name(i)]
        outs += [k_cache_name(i, out=True), v_cache_name(i, out=True)]
    return [*ins, SAMPLING], [*outs, NEXT_TOKEN]


def to_bytes(llm: LLMModel) -> bytes:
    graph = modelfile.to_bytes(llm.graph)
    tok = llm.tokenizer
    header = {
        "name": llm.name,
        "config": asdict(llm.config),
        "tokenizer": {"model": "gpt2", "tokens": tok.tokens, "merges": tok.merges, "token_types": tok.token_types,
                      "bos_id": tok.bos_id, "eos_id": tok.eos_id},
        "logit_scale": llm.logit_scale,
        "scales": llm.scales,
        "graph_bytes": len(graph),
    }
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(raw)) + raw + graph
    return body + keccak(body)


def _check_io(graph: Model, cfg: LlamaConfig) -> None:
    ins, outs = expected_io(cfg)
    got_in = [graph.tensors[s].name for s in graph.inputs]
    got_out = [graph.tensors[s].name for s in graph.outputs]
    if got_in != ins or got_out != outs:
        raise LLMFileError(f"decode graph inputs/outputs {got_in} → {got_out} do not match the config")


def from_bytes(blob: bytes) -> LLMModel:
    hlen = modelfile.read_frame(blob, MAGIC, VERSION, "LLM model", LLMFileError)
    body = blob[:-CHECKSUM_BYTES]
    try:
        h = json.loads(body[_PREFIX.size:_PREFIX.size + hlen].decode())
        cfg = LlamaConfig(**h["config"])
        t = h["tokenizer"]
        tok = Tokenizer(tokens=list(t["tokens"]), merges=list(t["merges"]), bos_id=int(t["bos_id"]),
                        eos_id=int(t["eos_id"]), token_types=[int(x) for x in t["token_types"]])
        graph_raw = body[_PREFIX.size + hlen:]
        if len(graph_raw) != int(h["graph_bytes"]):
            raise LLMFileError(f"graph section is {len(graph_raw)} bytes, header says {h['graph_bytes']}")
        graph = modelfile.from_bytes(graph_raw)
        llm = LLMModel(str(h["name"]), cfg, tok, graph, float(h["logit_scale"]),
                       {str(k): float(v) for k, v in h["scales"].items()})
    except LLMFileError:
        raise
    except MLError as exc:
        raise LLMFileError(f"decode graph: {exc}") from None
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise LLMFileError(f"LLM model header is invalid: {type(exc).__name__}: {exc}") from None
    _check_io(graph, cfg)
    return llm


def save(llm: LLMModel, path: str | Path) -> None:
    Path(path).write_bytes(to_bytes(llm))


def load(path: str | Path) -> LLMModel:
    return from_bytes(modelfile.read_bytes(path, "LLM model", LLMFileError))


def is_llm_file(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False
