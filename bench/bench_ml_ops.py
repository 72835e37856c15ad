"""The op runtime: exact fast matmul vs int64 matmul, and one Conv2D node natively vs in the VM.

Figures: `ml_matmul_float64_ms`, `ml_matmul_int64_ms` (256x1024 @ 1024x256 int8, exact both ways) and their
ratio; `ml_conv_native_ms` (numpy reference, 1x8x28x28 input, 16 3x3 filters, pad 1); `ml_conv_vm_steps`,
`ml_conv_vm_s` (the same node in the fast VM executor, after a warm-up run) and `ml_conv_vm_steps_per_mac`.
"""

from __future__ import annotations


import numpy as np

from opml.ml import fastmm, ops, vmrun
from opml.ml.model import Node

from .timing import median_s


def run() -> dict:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (256, 1024), dtype=np.int8)
    b = rng.integers(-128, 128, (1024, 256), dtype=np.int8)
    assert np.array_equal(fastmm.matmul_i8(a, b), fastmm.matmul_int64(a, b))
    fast = median_s(lambda: fastmm.matmul_i8(a, b), 20)
    exact = median_s(lambda: fastmm.matmul_int64(a, b), 5)

    x = rng.integers(-128, 128, (1, 8, 28, 28), dtype=np.int8)
    w = rng.integers(-128, 128, (16, 8, 3, 3), dtype=np.int8)
    bias = rng.integers(-1000, 1000, 16, dtype=np.int32)
    node = Node.make("Conv2D", [0, 1, 2], 3, {"pads": (1, 1, 1, 1)})
    inputs = [x, w, bias]
    native = median_s(lambda: ops.evaluate(node.op, inputs, node.attrs), 20)
    vm = vmrun.run_node(node, inputs)  # warm-up (numba compile) and the step count
    assert np.array_equal(vm.output, ops.evaluate(node.op, inputs, node.attrs))
    vm_s = median_s(lambda: vmrun.run_node(node, inputs), 3)
    macs = 16 * 28 * 28 * 8 * 9
    return {
        "ml_matmul_float64_ms": round(fast * 1e3, 3),
        "ml_matmul_int64_ms": round(exact * 1e3, 3),
        "ml_matmul_float64_speedup": round(exact / fast, 1),
        "ml_conv_native_ms": round(native * 1e3, 3),
        "ml_conv_vm_steps": vm.steps,
        "ml_conv_vm_s": round(vm_s, 3),
        "ml_conv_vm_steps_per_mac": round(vm.steps / macs, 2),
    }
