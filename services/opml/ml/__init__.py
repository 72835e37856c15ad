"""Deterministic integer ML: the closed op set, quantization primitives, the model format and the executors. Uses
kernels and vm (the VM path).

Normative semantics: docs/ops.md. Native path: `executor.run`; VM path: `vmrun.run_node` (one node or tile of
it in the MIPS VM, kernels/src/<op>.c).
"""

from .errors import InputError, MLError, ModelError, OpError, QuantError
from .executor import Trace, run
from .model import FORMAT_VERSION, Model, Node, TensorSpec
from .ops import OPS, OpType
from .tensor import TensorType

__all__ = [
    "FORMAT_VERSION", "InputError", "MLError", "Model", "ModelError", "Node", "OPS", "OpError", "OpType",
    "QuantError", "TensorSpec", "TensorType", "Trace", "run",
]
