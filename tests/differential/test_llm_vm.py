"""One decode step of an integer llama runs in the MIPS VM kernel by kernel and gives the native bits, the sampled
next token included."""

from __future__ import annotations

import numpy as np
from llm_models import write_tiny_llama

from opml.llm.importer import import_gguf
from opml.llm.runtime import IntLlama, sampling_input
from opml.llm.vmstep import vm_decode_step

# the shipped model's graph (GQA, SwiGLU, tied-free head) at a size the VM test runs in seconds
SHRUNK = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn=48, ctx=8)


def test_decode_step_in_the_vm_equals_native(tmp_path):
    path = tmp_path / "shrunk.gguf"
    write_tiny_llama(path, config=SHRUNK, seed=11)
    llm = import_gguf(path, "the cat and the dog sat in the sun. " * 10)
    model = IntLlama(llm)
    words = sampling_input(0.8, 2**63 + 12345)
    model.step(llm.tokenizer.bos_id, 0)
    model.step(70, 1)  # a step with earlier cache rows filled
    result = vm_decode_step(llm, 75, 2, model.caches, words)
    assert result.mismatches == []
    np.testing.assert_array_equal(result.logits_vm, result.logits_native)
    assert result.next_token_vm == result.next_token_native
    expected = model.decode(75, 2, words)
    np.testing.assert_array_equal(result.logits_native[0], expected.logits)
    assert result.next_token_native == expected.next_token
    assert result.steps > 0
