"""The LLM generation stack as a node backend (`kind = "llm"` in the deployment file): the LLM file
(`opml.llm.llmfile`) is committed once (its decode-step graph, weights and kernels: docs/levels.md), a request's
bytes are a generation request (`opml.llm.generation`: N new tokens after a prompt of token ids, a temperature, a
salt), the output is exactly the N generated token ids, and the request-level provider is the token level of
`opml.levels` (`generation_party`, with the node's faults for a node told to lie: `wrong-token:STEP[:TOKEN]` and
the other generation fault texts of docs/levels.md).

    "models": {"1": {"kind": "llm", "model_file": "models/llm/moby.opml"}}

`model_file` is relative to the config's `model_dir` (default: the repository root); like an ML model, a node
without the file names `model_uri` and `file_hash` instead (`ml_backend.model_path`). A request that is no
generation the model can run (too short, ragged, no new token, prompt and new tokens longer than the context, a
token id outside the vocabulary) is a BackendError: the daemon logs one line and submits nothing.
"""

from __future__ import annotations

from pathlib import Path

from opml.hashing import keccak
from opml.levels.faults import FaultError
from opml.levels.generation_lies import generation_party, parse_generation_fault
from opml.levels.llm_commitment import commit_llm
from opml.llm.generation import GenerationRequest
from opml.llm.llmfile import LLMFileError, from_bytes
from opml.ml.errors import InputError

from .backend_api import BackendError, Claim, RequestInput
from .config import NodeConfig
from .deployment import ModelSpec
from .ml_backend import model_path


class LlmBackend:
    """An honest (or, with `faults`, a lying) party on one committed LLM."""

    def __init__(self, model_file: Path, faults: frozenset = frozenset()) -> None:
        if not model_file.is_file():
            raise BackendError(f"LLM file {model_file} does not exist")
        data = model_file.read_bytes()
        try:
            self.llm = from_bytes(data)
        except LLMFileError as exc:
            raise BackendError(f"LLM file {model_file}: {exc}") from None
        self.file_hash = keccak(data)
        self.commitment = commit_llm(self.llm)
        self.faults = faults

    def model_roots(self) -> tuple[bytes, bytes, bytes]:
        return self.commitment.roots

    def generation(self, data: bytes) -> GenerationRequest:
        """The generation request `data` encodes; BackendError (one line) when the model cannot run it."""
        try:
            return GenerationRequest.decode(data, self.llm.config.ctx, self.llm.config.vocab)
        except InputError as exc:
            raise BackendError(str(exc)) from None

    def claim(self, request: RequestInput) -> Claim:
        self.generation(request.input)
        try:
            level = generation_party(self.commitment, request.input, self.faults)
            output, trace_commitment = level.submission()
        except FaultError as exc:  # a lying node's fault that does not fit this request (a step past its end)
            raise BackendError(f"fault does not fit request {request.request_id}: {exc}") from None
        return Claim(output=output, output_commitment=level.root_at(1), trace_commitment=trace_commitment,
                     provider=level, runs_vm=True)


def llm_backend(spec: ModelSpec, config: NodeConfig) -> LlmBackend:
    faults = frozenset(_fault(text) for text in config.faults)
    return LlmBackend(model_path(spec, config), faults)


def _fault(text: str):  # noqa: ANN202 — a fault of opml.levels
    try:
        return parse_generation_fault(text)
    except ValueError as exc:  # FaultError: one line naming the spec texts
        raise BackendError(str(exc)) from None
