"""Train and export the small BERT-family encoders of `tests/encoder_models.py` (torch; not part of the test run).

    .venv/bin/pip install torch==2.13.0            # the optional extra `train`
    .venv/bin/python tests/data/make_encoders.py   # writes tests/data/encoders/*.onnx

Each model is a BERT encoder written here the way Hugging Face writes it (word + position + token-type
embeddings and LayerNorm; per layer multi-head self-attention with the additive padding mask
(1 − mask)·finfo.min, residual + LayerNorm, feed-forward with GELU, residual + LayerNorm), trained for a few
hundred steps on the synthetic task `encoder_models.labels` (so its weights are not those of a fresh
initialization), then exported by `torch.onnx.export` (TorchScript exporter) with dynamic batch and sequence
axes, so the graph holds the Shape/Gather/Unsqueeze/Concat subgraphs that reshape per sequence length:

- bert_mean_erf  (opset 17): fused LayerNormalization, GELU Erf form, inputs input_ids/attention_mask/
  token_type_ids, output the mean of the last hidden states over the unpadded positions;
- bert_cls_tanh  (opset 14): LayerNorm decomposed (ReduceMean, Sub, Pow, Add, Sqrt, Div, Mul, Add), GELU tanh
  form, inputs input_ids/attention_mask, output the classifier logits over the [CLS] pooler (dense + tanh).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import encoder_models as E  # noqa: E402

STEPS = 300
BATCH = 64
SEED = 1234


class Embeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(E.VOCAB, E.HIDDEN)
        self.position = nn.Embedding(E.MAX_POSITIONS, E.HIDDEN)
        self.token_type = nn.Embedding(2, E.HIDDEN)
        self.norm = nn.LayerNorm(E.HIDDEN, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(E.MAX_POSITIONS)[None, :], persistent=False)

    def forward(self, ids: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        positions = self.position_ids[:, : ids.shape[1]]
        if types is None:
            types = torch.zeros_like(ids)
        return self.norm(self.word(ids) + self.token_type(types) + self.position(positions))


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(E.HIDDEN, E.HIDDEN) for _ in range(3))
        self.head_dim = E.HIDDEN // E.HEADS

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, E.HEADS, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
        context = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return context.view(x.shape[0], x.shape[1], E.HIDDEN)


class Layer(nn.Module):
    def __init__(self, gelu: str) -> None:
        super().__init__()
        self.attention = SelfAttention()
        self.attention_out = nn.Linear(E.HIDDEN, E.HIDDEN)
        self.attention_norm = nn.LayerNorm(E.HIDDEN, eps=1e-12)
        self.intermediate = nn.Linear(E.HIDDEN, E.INTERMEDIATE)
        self.gelu = nn.GELU(approximate=gelu)
        self.output = nn.Linear(E.INTERMEDIATE, E.HIDDEN)
        self.output_norm = nn.LayerNorm(E.HIDDEN, eps=1e-12)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(self.attention_out(self.attention(x, mask_bias)) + x)
        return self.output_norm(self.output(self.gelu(self.intermediate(x))) + x)


class Encoder(nn.Module):
    """pooling "mean": returns the masked mean of the last hidden states (a training-only head sits on it);
    pooling "cls": returns classifier(tanh(dense(h[:, 0])))."""

    def __init__(self, gelu: str, pooling: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.embeddings = Embeddings()
        self.layers = nn.ModuleList(Layer(gelu) for _ in range(E.LAYERS))
        self.pooler = nn.Linear(E.HIDDEN, E.HIDDEN)
        self.classifier = nn.Linear(E.HIDDEN, E.CLASSES)

    def encode(self, ids, mask, types=None) -> torch.Tensor:
        bias = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        h = self.embeddings(ids, types)
        for layer in self.layers:
            h = layer(h, bias)
        if self.pooling == "mean":
            weights = mask.unsqueeze(-1).to(torch.float32)
            return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))

    def logits(self, ids, mask, types=None) -> torch.Tensor:
        pooled = self.encode(ids, mask, types)
        return self.classifier(pooled) if self.pooling == "mean" else pooled


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def train(model: Encoder, rng: np.random.Generator, with_types: bool) -> float:
    """A few hundred Adam steps on the synthetic task; returns the accuracy on 512 fresh sequences."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(STEPS):
        batch = E.token_batch(rng, BATCH)
        t = _tensors(batch)
        logits = model.logits(t["input_ids"], t["attention_mask"], t["token_type_ids"] if with_types else None)
        loss = nn.functional.cross_entropy(logits, torch.from_numpy(E.labels(batch)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    batch = E.token_batch(rng, 512)
    t = _tensors(batch)
    with torch.no_grad():
        logits = model.logits(t["input_ids"], t["attention_mask"], t["token_type_ids"] if with_types else None)
    return float((logits.argmax(dim=1).numpy() == E.labels(batch)).mean())


class _Export(nn.Module):
    def __init__(self, model: Encoder, with_types: bool) -> None:
        super().__init__()
        self.model, self.with_types = model, with_types

    def forward(self, *inputs):
        return self.model.encode(*inputs)


def export(model: Encoder, path: Path, opset: int, with_types: bool) -> None:
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
    example = E.token_batch(np.random.default_rng(0), 2)
    args = tuple(torch.from_numpy(example[n]) for n in names)
    output = "embedding" if model.pooling == "mean" else "logits"
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {output: {0: "batch"}}
    torch.onnx.export(_Export(model, with_types), args, str(path), input_names=names, output_names=[output],
                      dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)


def main() -> None:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    E.DATA.mkdir(parents=True, exist_ok=True)
    specs = (("bert_mean_erf", "none", "mean", 17, True), ("bert_cls_tanh", "tanh", "cls", 14, False))
    for name, gelu, pooling, opset, with_types in specs:
        model = Encoder(gelu, pooling)
        accuracy = train(model, rng, with_types)
        export(model, E.ENCODERS[name], opset, with_types)
        size = E.ENCODERS[name].stat().st_size
        print(f"{name}: task accuracy {accuracy:.3f}, {size} bytes")


if __name__ == "__main__":
    main()
