"""The small BERT-family encoders the tests import (`tests/data/encoders/*.onnx`) and the token batches they
run on, without torch: `tests/data/make_encoders.py` (torch, not part of the test run) trains and exports the
models on batches from the same `token_batch`.

Token ids: 0 is padding, 1 the [CLS] token every sequence starts with, 2.. ordinary tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "encoders"
VOCAB = 200
HIDDEN = 64
HEADS = 4
LAYERS = 2
INTERMEDIATE = 128
MAX_POSITIONS = 32
SEQ = 16
PAD, CLS = 0, 1

# name → (what the export shows), the keys `make_encoders.py` builds
ENCODERS = {
    # opset 17: fused LayerNormalization, GELU in Erf form; three inputs; output: mean-pooled embedding [1, H]
    "bert_mean_erf": DATA / "bert_mean_erf.onnx",
    # opset 14: LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div, GELU in tanh form; two inputs (token
    # types default to 0); output: the classifier logits over the [CLS] pooler (dense + tanh)
    "bert_cls_tanh": DATA / "bert_cls_tanh.onnx",
}
CLASSES = 3


def token_batch(rng: np.random.Generator, n: int, seq: int = SEQ, min_len: int = 3) -> dict[str, np.ndarray]:
    """`n` padded sequences: {input_ids, attention_mask, token_type_ids}, int64 [n, seq]. Lengths are uniform in
    [min_len, seq]; the second segment (token type 1) starts at a random point of longer sequences."""
    lengths = rng.integers(min_len, seq + 1, n)
    ids = rng.integers(2, VOCAB, (n, seq))
    ids[:, 0] = CLS
    positions = np.arange(seq)[None, :]
    mask = (positions < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids, PAD)
    split = rng.integers(1, np.maximum(lengths, 2))
    types = ((positions >= split[:, None]) & (mask == 1)).astype(np.int64)
    return {"input_ids": ids.astype(np.int64), "attention_mask": mask, "token_type_ids": types}


def labels(batch: dict[str, np.ndarray]) -> np.ndarray:
    """The synthetic task the models are briefly trained on: which third of the vocabulary most of a sequence's
    ordinary tokens fall in (0, 1 or 2)."""
    ids, mask = batch["input_ids"], batch["attention_mask"].astype(bool)
    ordinary = mask & (ids >= 2)
    third = np.minimum((ids - 2) * CLASSES // (VOCAB - 2), CLASSES - 1)
    counts = np.stack([(ordinary & (third == c)).sum(axis=1) for c in range(CLASSES)], axis=1)
    return counts.argmax(axis=1)
