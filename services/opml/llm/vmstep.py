"""One decode step of an integer LLM with every node recomputed in the MIPS VM, kernel by kernel.

The native run (numpy references) gives every node's inputs; each node then runs whole in the VM
(``opml.ml.vmrun.run_node``, the fast VM executor) and its output must equal the native bits. Because each VM run
starts from the native inputs, the first mismatching node is the one whose kernel disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opml.llm.graph import NEXT_TOKEN
from opml.llm.llmfile import LLMModel
from opml.llm.runtime import GREEDY, cache_inputs, step_inputs
from opml.ml import executor
from opml.ml.vmrun import run_node


@dataclass
class VMStepResult:
    logits_native: np.ndarray
    logits_vm: np.ndarray
    next_token_native: int
    next_token_vm: int
    mismatches: list[str]
    steps: int


def vm_decode_step(llm: LLMModel, token: int, position: int, caches: dict[str, np.ndarray] | None = None,
                   sampling: np.ndarray = GREEDY) -> VMStepResult:
    """Run the decode step natively, then every node in the VM from the same inputs; compare the outputs."""
    graph = llm.graph
    trace = executor.run(graph, step_inputs(token, position, caches or cache_inputs(llm), sampling))
    vm_values = dict(trace.values)
    mismatches, steps = [], 0
    for index, node in enumerate(graph.nodes):
        result = run_node(node, [trace.values[s] for s in node.inputs])
        steps += result.steps
        vm_values[node.output] = result.output
        native = trace.outputs[node.output]
        if result.output.dtype != native.dtype or not np.array_equal(result.output, native):
            mismatches.append(f"node {index} {node.op.value} {graph.tensors[node.output].name}")
    logits = graph.outputs[0]
    (sampled,) = [s for s in graph.outputs if graph.tensors[s].name == NEXT_TOKEN]
    return VMStepResult(trace.values[logits], vm_values[logits], int(trace.values[sampled][0]),
                        int(vm_values[sampled][0]), mismatches, steps)
