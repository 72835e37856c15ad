"""The small random llama of the LLM runtime tests (two layers, 64 wide) and the text it is calibrated on."""

from __future__ import annotations

from pathlib import Path

from llm_models import write_tiny_llama

SMALL = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn=128, ctx=24)
TEXT = "the cat and the dog sat in the sun and the wind. " * 30


def write_small_llama(directory: Path, seed: int) -> Path:
    """Write the small llama with weights drawn from `seed` as `directory`/tiny.gguf and return its path."""
    path = directory / "tiny.gguf"
    write_tiny_llama(path, config=SMALL, seed=seed)
    return path
