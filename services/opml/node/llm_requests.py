"""A generation request from the requester's side: a text prompt → the request's input bytes, and the output
bytes → the generated text. Pure (no chain); the SDK and `opml request --prompt` use it.

    request = generation_request(llm, "Once upon a time", max_tokens=32)     # BOS + the prompt's tokens
    data = request.encode()                                                  # Coordinator.request's input
    text = generated_text(llm, output)                                       # cut at the first EOS

The layout of the input and output bytes is `opml.llm.generation`'s (docs/dapps.md): the output is exactly
`max_tokens` u32 token ids; generation never stops early, so the text ends at the first EOS token.
"""

from __future__ import annotations

import math
from pathlib import Path

from opml.llm.generation import GenerationRequest, decode_output
from opml.llm.llmfile import LLMFileError, LLMModel, load
from opml.ml.errors import InputError
from opml.paths import REPO_ROOT

from .deployment import Deployment

Q16 = 1 << 16
MAX_TEMPERATURE_Q16 = (1 << 32) - 1


class BadGeneration(ValueError):
    """A generation the model's nodes would refuse (or could not run), caught before anything is sent."""


def temperature_q16(temperature: float) -> int:
    """`temperature` as the request's Q16.16 fixed-point u32 (0 = greedy); BadGeneration when it is none."""
    if not math.isfinite(temperature) or temperature < 0:
        raise BadGeneration(f"temperature {temperature} must be a finite number ≥ 0 (0 = greedy)")
    q16 = round(temperature * Q16)
    if q16 > MAX_TEMPERATURE_Q16:
        raise BadGeneration(f"temperature {temperature} does not fit Q16.16 (at most {MAX_TEMPERATURE_Q16 / Q16:.0f})")
    return q16


def generation_request(llm: LLMModel, prompt: str, max_tokens: int, temperature: float = 0.0,
                       salt: int = 0) -> GenerationRequest:
    """The request for `max_tokens` tokens after `prompt`, tokenized by the model's own tokenizer (BOS first);
    BadGeneration (one line) when the model could not answer it: no new token asked, prompt and new tokens longer
    than the context, a bad temperature or salt."""
    if max_tokens < 1:
        raise BadGeneration(f"--max-tokens must be at least 1, got {max_tokens}")
    prompt_ids = llm.tokenizer.encode(prompt, bos=True)
    ctx = llm.config.ctx
    if len(prompt_ids) + max_tokens - 1 > ctx:
        raise BadGeneration(f"the prompt is {len(prompt_ids)} tokens (BOS included); with {max_tokens} new tokens "
                            f"it needs {len(prompt_ids) + max_tokens - 1} positions, the context of "
                            f"{llm.name!r} holds {ctx}")
    try:
        request = GenerationRequest(tuple(prompt_ids), max_tokens, temperature_q16(temperature), salt)
        return GenerationRequest.decode(request.encode(), ctx, llm.config.vocab)  # exactly what a node accepts
    except InputError as exc:
        raise BadGeneration(str(exc)) from None


def generation_of(llm: LLMModel, data: bytes) -> GenerationRequest:
    """The generation request `data` encodes for `llm`; BadGeneration (one line) when a node could not run it."""
    try:
        return GenerationRequest.decode(data, llm.config.ctx, llm.config.vocab)
    except InputError as exc:
        raise BadGeneration(str(exc)) from None


def generated_tokens(llm: LLMModel, output: bytes, max_tokens: int | None = None) -> list[int]:
    """The token ids of a generation's output before the first EOS (`max_tokens`: check the output has exactly
    that many ids; BadGeneration otherwise)."""
    try:
        ids = decode_output(output, len(output) // 4 if max_tokens is None else max_tokens)
    except InputError as exc:
        raise BadGeneration(str(exc)) from None
    eos = llm.tokenizer.eos_id
    return ids[:ids.index(eos)] if eos in ids else ids


def generated_text(llm: LLMModel, output: bytes, max_tokens: int | None = None) -> str:
    """The text of a generation's output: its token ids before the first EOS, decoded by the model's tokenizer."""
    return llm.tokenizer.decode(generated_tokens(llm, output, max_tokens))


def llm_file(deployment: Deployment, model_id: int, model_dir: Path | None = None) -> Path:
    """The LLM file of the deployment's model `model_id` (kind "llm", `model_file` under `model_dir`, default the
    repository root); BadGeneration when the deployment names no LLM file for it."""
    spec = deployment.models.get(model_id)
    if spec is None:
        raise BadGeneration(f"model {model_id} is not in the deployment's models {sorted(deployment.models)}; "
                            f"pass --llm FILE to tokenize for it")
    if spec.kind != "llm":
        raise BadGeneration(f"model {model_id} is a {spec.kind!r} model, not an LLM: it takes --input, not --prompt")
    name = spec.param("model_file")
    if not isinstance(name, str):
        raise BadGeneration(f"the deployment names no model_file for LLM {model_id}; pass --llm FILE")
    return (model_dir or REPO_ROOT) / name


def load_llm(path: Path) -> LLMModel:
    """The LLM in `path`; BadGeneration (one line) when it is missing or no LLM file."""
    if not Path(path).is_file():
        raise BadGeneration(f"LLM file {path} does not exist")
    try:
        return load(path)
    except LLMFileError as exc:
        raise BadGeneration(f"{path} is not an LLM file: {exc}") from None
