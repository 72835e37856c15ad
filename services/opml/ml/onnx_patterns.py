"""Transformer patterns in a folded ONNX graph (onnx_fold.py), rewritten into single nodes the lowering maps onto
the integer op set:

- LayerNorm decomposed into ReduceMean → Sub → Pow(2) → ReduceMean → Add(ε) → Sqrt → Div [→ Mul γ → Add β]
  becomes one `LayerNormalization` (axis −1, the standard ONNX op);
- scaled dot-product attention over heads, as `torch.onnx.export` writes it:
      q4, k4, v4 = Reshape(x·W + b, [1, S, H, d]);  Transpose q4, v4 to [1, H, S, d] and k4 to [1, H, d, S]
      MatMul → Div(c) or Mul(c) → [Add(padding-mask bias)] → Softmax → MatMul(·, v) → Transpose to [1, S, H, d]
  becomes `opml.Attention(q4, k4, v4, mask)` (mask: the integer graph input the bias is computed from, or "");
  the bias must be 0 where the mask is 1 and ≤ −10⁴ where it is 0 (checked on a probe mask);
- mean pooling over the unpadded positions, ReduceSum(h · mask, axis 1) / [Clip](ReduceSum(mask, axis 1)) (or
  ReduceMean(h, axis 1) without a mask), becomes `opml.MaskedMean(h, mask)`;
- a single-variable elementwise expression with scalar constants that contains Erf, Tanh or Gelu — GELU in its
  Erf or tanh form, tanh — becomes `opml.ElementwiseFunction(x)` whose `body` graph computes it (the lowering
  tabulates it into a 256-entry Lut).

Nodes left without consumers (the mask-bias arithmetic) are dropped. Each rewritten node keeps the name of the
pattern's last node and writes the pattern's output tensor, so calibrated ranges still apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from .onnx_graph import OnnxImportError, attr, set_nodes

DOMAIN = "opml"
MASKED_SCORE = -1e4
FUNCTION_TRIGGERS = ("Erf", "Tanh", "Gelu")
FUNCTION_OPS = ("Add", "Sub", "Mul", "Div", "Pow", "Neg", *FUNCTION_TRIGGERS)
INTEGER_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)


@dataclass
class View:
    """Indexes over a graph being rewritten: producer and consumers of each tensor, constants, outputs."""

    model: onnx.ModelProto
    shapes: dict[str, tuple[int, ...]]
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    consumers: dict[str, list[onnx.NodeProto]] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.producer, self.consumers = {}, {}
        for node in self.model.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.model.graph.initializer}

    @property
    def outputs(self) -> set[str]:
        return {o.name for o in self.model.graph.output}

    @property
    def integer_inputs(self) -> set[str]:
        return {i.name for i in self.model.graph.input if i.type.tensor_type.elem_type in INTEGER_TYPES}

    def make(self, op: str, name: str) -> onnx.NodeProto | None:
        """The node producing `name` if its op is `op`."""
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op else None

    def sole(self, name: str, op: str) -> onnx.NodeProto | None:
        """The only node reading `name`, if its op is `op` and `name` is no graph output."""
        readers = self.consumers.get(name, [])
        if len(readers) == 1 and readers[0].op_type == op and name not in self.outputs:
            return readers[0]
        return None

    def scalar(self, name: str) -> float | None:
        value = self.consts.get(name)
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def other(self, node: onnx.NodeProto, name: str) -> str:
        """The operand of a binary node that is not `name`."""
        a, b = node.input[0], node.input[1]
        return b if a == name else a

    def internal(self, names: Iterable[str], nodes: list[onnx.NodeProto]) -> bool:
        """Whether every tensor in `names` is read only by `nodes` and is no graph output."""
        ids = {id(n) for n in nodes}
        return all(name not in self.outputs and all(id(c) in ids for c in self.consumers.get(name, []))
                   for name in names)

    def sources(self, name: str) -> set[str]:
        """The graph inputs `name` depends on."""
        seen, stack, found = set(), [name], set()
        inputs = {i.name for i in self.model.graph.input}
        while stack:
            tensor = stack.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            if tensor in inputs:
                found.add(tensor)
            elif tensor in self.producer:
                stack.extend(i for i in self.producer[tensor].input if i)
        return found

    def evaluate(self, target: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Value of `target` computed from `feeds` by its ancestor nodes (onnx's reference evaluator)."""
        needed, stack = [], [target]
        seen: set[str] = set()
        while stack:
            tensor = stack.pop()
            if tensor in seen or tensor not in self.producer:
                continue
            seen.add(tensor)
            node = self.producer[tensor]
            if node not in needed:
                needed.append(node)
            stack.extend(i for i in node.input if i)
        order = [n for n in self.model.graph.node if n in needed]
        used = {i for n in order for i in n.input}
        graph = helper.make_graph(
            order, "cone",
            [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for k, v in feeds.items()],
            [helper.make_tensor_value_info(target, onnx.TensorProto.UNDEFINED, None)],
            [numpy_helper.from_array(v, k) for k, v in self.consts.items() if k in used],
        )
        model = helper.make_model(graph, opset_imports=self.model.opset_import, ir_version=self.model.ir_version)
        return np.asarray(ReferenceEvaluator(model).run(None, feeds)[0])


def _replace(view: View, pattern: list[onnx.NodeProto], new: onnx.NodeProto) -> None:
    """Put `new` where the last node of `pattern` was, and drop the pattern's nodes."""
    nodes = list(view.model.graph.node)
    ids = {id(n) for n in pattern}
    last = max(i for i, n in enumerate(nodes) if id(n) in ids)
    kept = [new if i == last else n for i, n in enumerate(nodes) if id(n) not in ids or i == last]
    set_nodes(view.model.graph, kept)
    view.refresh()


def _fuse_all(view: View, match) -> int:
    """Rewrite every match of `match(view, node)` (restarting the scan after each rewrite); the count."""
    count, index = 0, 0
    while index < len(view.model.graph.node):
        found = match(view, view.model.graph.node[index])
        if found is None:
            index += 1
            continue
        _replace(view, *found)
        count, index = count + 1, 0
    return count


def _add_const(view: View, name: str, value: np.ndarray) -> str:
    taken = set(view.consts) | set(view.producer) | {i.name for i in view.model.graph.input}
    unique, n = name, 1
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    view.model.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), unique))
    view.consts[unique] = value.astype(np.float32)
    return unique


def _axes(view: View, node: onnx.NodeProto) -> list[int] | None:
    axes = attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1] in view.consts:
        axes = view.consts[node.input[1]].reshape(-1).tolist()
    return None if axes is None else [int(a) for a in axes]


def _last_axis(view: View, node: onnx.NodeProto) -> bool:
    rank = len(view.shapes.get(node.input[0], ()))
    axes = _axes(view, node)
    return rank > 0 and axes is not None and len(axes) == 1 and axes[0] % rank == rank - 1 and attr(
        node, "keepdims", 1) == 1


# -- LayerNorm ------------------------------------------------------------------------------------------------


def _layer_norm_at(view: View, mean: onnx.NodeProto) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
    if mean.op_type != "ReduceMean" or not _last_axis(view, mean):
        return None
    x = mean.input[0]
    sub = view.sole(mean.output[0], "Sub")
    if sub is None or list(sub.input) != [x, mean.output[0]]:
        return None
    centered = sub.output[0]
    readers = view.consumers.get(centered, [])
    square = next((n for n in readers if n.op_type == "Pow" and view.scalar(n.input[1]) == 2.0), None)
    div = next((n for n in readers if n.op_type == "Div" and n.input[0] == centered), None)
    if square is None or div is None or len(readers) != 2:
        return None
    var = view.sole(square.output[0], "ReduceMean")
    add = view.sole(var.output[0], "Add") if var is not None and _last_axis(view, var) else None
    eps = view.scalar(view.other(add, var.output[0])) if add is not None else None
    sqrt = view.sole(add.output[0], "Sqrt") if eps is not None else None
    if sqrt is None or div.input[1] != sqrt.output[0]:
        return None
    pattern, out = [mean, sub, square, var, add, sqrt, div], div.output[0]
    width = view.shapes[x][-1]
    gamma, beta = np.ones(width, np.float32), np.zeros(width, np.float32)
    mul = view.sole(out, "Mul")
    if mul is not None and view.consts.get(view.other(mul, out), np.zeros(0)).size == width:
        gamma = view.consts[view.other(mul, out)].reshape(-1)
        pattern, out = pattern + [mul], mul.output[0]
    bias = view.sole(out, "Add")
    if bias is not None and view.consts.get(view.other(bias, out), np.zeros(0)).size == width:
        beta = view.consts[view.other(bias, out)].reshape(-1)
        pattern, out = pattern + [bias], bias.output[0]
    if not view.internal([n.output[0] for n in pattern[:-1]], pattern):
        return None
    g = _add_const(view, f"{out}.gamma", gamma)
    b = _add_const(view, f"{out}.beta", beta)
    node = helper.make_node("LayerNormalization", [x, g, b], [out], name=pattern[-1].name, axis=-1, epsilon=eps)
    return pattern, node


def fuse_layer_norms(view: View) -> int:
    return _fuse_all(view, _layer_norm_at)


# -- attention ------------------------------------------------------------------------------------------------


def _transposed(view: View, name: str, perm: list[int]) -> tuple[str, list[onnx.NodeProto]] | None:
    node = view.make("Transpose", name)
    if node is None or list(attr(node, "perm", [])) != perm:
        return None
    return node.input[0], [node]


def _key_source(view: View, name: str) -> tuple[str, list[onnx.NodeProto]] | None:
    """k4 [1, S, H, d] of a transposed key [1, H, d, S]: one Transpose (0, 2, 3, 1) or two."""
    direct = _transposed(view, name, [0, 2, 3, 1])
    if direct is not None:
        return direct
    swap = _transposed(view, name, [0, 1, 3, 2])
    inner = _transposed(view, swap[0], [0, 2, 1, 3]) if swap is not None else None
    return (inner[0], swap[1] + inner[1]) if inner is not None else None


def check_padding_bias(view: View, bias: str, mask: str, where: str) -> None:
    """The additive bias computed from the integer input `mask` is 0 where mask = 1 and ≤ MASKED_SCORE where 0."""
    seq = view.shapes[mask][-1]
    probe = np.ones(view.shapes[mask], dtype=np.int64)
    probe[..., 2::3] = 0
    value = view.evaluate(bias, {mask: probe})
    try:
        columns = np.broadcast_to(value, (*value.shape[:-1], seq)).reshape(-1, seq)
    except ValueError:
        raise OnnxImportError(f"{where}: the attention mask bias of shape {list(value.shape)} does not "
                              f"broadcast over {seq} keys") from None
    keep = probe.reshape(-1)[-seq:] == 1
    if not (np.all(columns[:, keep] == 0) and np.all(columns[:, ~keep] <= MASKED_SCORE)):
        raise OnnxImportError(f"{where}: the attention mask bias is not 0 for kept and <= {MASKED_SCORE:g} for "
                              f"padded keys (only additive padding masks are supported)")


def _mask_source(view: View, name: str) -> str | None:
    """The integer graph input `name` is computed from alone, if any."""
    sources = view.sources(name)
    return next(iter(sources)) if len(sources) == 1 and sources <= view.integer_inputs else None


def _scores_at(view: View, name: str) -> tuple[list[onnx.NodeProto], float, onnx.NodeProto] | None:
    """(nodes, factor, the q·kᵀ MatMul) of scores = factor · MatMul(q, k), the factor a Div or Mul by a scalar."""
    factor, pattern = 1.0, []
    scale = view.producer.get(name)
    if scale is not None and scale.op_type in ("Div", "Mul"):
        c = view.scalar(scale.input[1])
        if c is None:
            return None
        factor = 1.0 / c if scale.op_type == "Div" else c
        pattern, name = [scale], scale.input[0]
    qk = view.make("MatMul", name)
    return (pattern + [qk], factor, qk) if qk is not None else None


def _attention_at(view: View, softmax: onnx.NodeProto) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
    if softmax.op_type != "Softmax" or attr(softmax, "axis", -1) not in (-1, 3):
        return None
    pattern, mask = [softmax], ""
    scores = _scores_at(view, softmax.input[0])
    add = view.make("Add", softmax.input[0]) if scores is None else None
    if add is not None:
        found = [(t, _scores_at(view, t)) for t in add.input]
        operands = [(t, sc) for t, sc in found if sc is not None]
        if len(operands) != 1:
            return None
        bias = view.other(add, operands[0][0])
        mask = _mask_source(view, bias)
        if mask is None:
            return None
        check_padding_bias(view, bias, mask, f"Add node {add.name!r}")
        pattern, scores = pattern + [add], operands[0][1]
    if scores is None:
        return None
    scale_nodes, factor, qk = scores
    query, key = _transposed(view, qk.input[0], [0, 2, 1, 3]), _key_source(view, qk.input[1])
    pv = view.sole(softmax.output[0], "MatMul")
    if query is None or key is None or pv is None or pv.input[0] != softmax.output[0]:
        return None
    value = _transposed(view, pv.input[1], [0, 2, 1, 3])
    back = view.sole(pv.output[0], "Transpose")
    if value is None or back is None or list(attr(back, "perm", [])) != [0, 2, 1, 3]:
        return None
    pattern += [*scale_nodes, pv, back, *query[1], *key[1], *value[1]]
    if not view.internal([o for n in pattern if n is not back for o in n.output], pattern):
        return None
    if any(len(view.shapes.get(t, ())) != 4 for t in (query[0], key[0], value[0])):
        return None
    node = helper.make_node("Attention", [query[0], key[0], value[0], mask], [back.output[0]], name=back.name,
                            domain=DOMAIN, scale=float(factor))
    return pattern, node


def fuse_attention(view: View) -> int:
    return _fuse_all(view, _attention_at)


# -- mean pooling ---------------------------------------------------------------------------------------------


def _sequence_axis(view: View, node: onnx.NodeProto) -> bool:
    rank = len(view.shapes.get(node.input[0], ()))
    axes = _axes(view, node)
    return rank == 3 and axes is not None and [a % rank for a in axes] == [1]


def _masked_mean_at(view: View, div: onnx.NodeProto) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
    if div.op_type == "ReduceMean" and _sequence_axis(view, div):
        node = helper.make_node("MaskedMean", [div.input[0], ""], [div.output[0]], name=div.name, domain=DOMAIN)
        return [div], node
    if div.op_type != "Div":
        return None
    total = view.make("ReduceSum", div.input[0])
    product = view.make("Mul", total.input[0]) if total is not None and _sequence_axis(view, total) else None
    if product is None:
        return None
    mask = _mask_source(view, div.input[1])
    weights = next((t for t in product.input if mask is not None and _mask_source(view, t) == mask), None)
    if weights is None:
        return None
    hidden = view.other(product, weights)
    probe = np.ones(view.shapes[mask], dtype=np.int64)
    probe[..., 1::2] = 0
    w = view.evaluate(weights, {mask: probe})
    count = view.evaluate(div.input[1], {mask: probe})
    if not (np.array_equal(np.broadcast_to(w, (*probe.shape, 1)), probe[..., None].astype(w.dtype))
            and np.allclose(count, probe.sum(axis=-1).reshape(count.shape))):
        return None
    pattern = [total, product, div]
    if not view.internal([total.output[0], product.output[0]], pattern):
        return None
    node = helper.make_node("MaskedMean", [hidden, mask], [div.output[0]], name=div.name, domain=DOMAIN)
    return pattern, node


def fuse_mean_pooling(view: View) -> int:
    return _fuse_all(view, _masked_mean_at)


# -- elementwise functions ------------------------------------------------------------------------------------


def _variable(view: View, node: onnx.NodeProto) -> str | None:
    """The single non-constant input of an elementwise node whose other inputs are scalar constants."""
    names = [i for i in node.input if i]
    variables = sorted({i for i in names if i not in view.consts})
    if len(variables) != 1 or any(view.consts[i].size != 1 for i in names if i in view.consts):
        return None
    return variables[0]


def _region_from(view: View, start: int) -> tuple[list[onnx.NodeProto], str, str] | None:
    """The maximal elementwise region over the variable of node `start`: (nodes, variable, the one output)."""
    nodes = list(view.model.graph.node)
    x = _variable(view, nodes[start]) if nodes[start].op_type in FUNCTION_OPS else None
    if x is None:
        return None
    region, produced = [], set()
    for index in range(start, len(nodes)):
        node = nodes[index]
        if node.op_type not in FUNCTION_OPS or node.domain not in ("", "ai.onnx"):
            continue
        names = [i for i in node.input if i]
        inside = [i for i in names if i in produced or i == x]
        if len(inside) + sum(1 for i in names if view.scalar(i) is not None) != len(names) or not inside:
            continue
        if index != start and not any(i in produced for i in names) and node.op_type in FUNCTION_TRIGGERS:
            continue  # a second function of x that starts elsewhere
        region.append(node)
        produced.update(node.output)
    exits = [t for t in produced if t in view.outputs or any(c not in region for c in view.consumers.get(t, []))]
    if len(exits) != 1 or not any(n.op_type in FUNCTION_TRIGGERS for n in region):
        return None
    return region, x, exits[0]


def _function_node(view: View, region: list[onnx.NodeProto], x: str, out: str) -> onnx.NodeProto:
    used = {i for n in region for i in n.input if i in view.consts}
    body = helper.make_graph(
        list(region), "function",
        [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(view.consts[name], name) for name in sorted(used)],
    )
    return helper.make_node("ElementwiseFunction", [x], [out], name=region[-1].name, domain=DOMAIN, body=body)


def fuse_functions(view: View) -> int:
    count, index = 0, 0
    while index < len(view.model.graph.node):
        found = _region_from(view, index)
        if found is None:
            index += 1
            continue
        region, x, out = found
        _replace(view, region, _function_node(view, region, x, out))
        count += 1
        index = 0
    return count


def drop_dead(view: View) -> None:
    """Remove nodes none of whose outputs is read or is a graph output (repeatedly)."""
    while True:
        live = [n for n in view.model.graph.node
                if any(o in view.outputs or view.consumers.get(o) for o in n.output if o)]
        if len(live) == len(view.model.graph.node):
            return
        set_nodes(view.model.graph, live)
        view.refresh()


def rewrite(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Rewrite the patterns of the module docstring in place; returns how many of each were found."""
    view = View(model, shapes)
    found = {"layer_norm": fuse_layer_norms(view), "attention": fuse_attention(view)}
    drop_dead(view)
    found["mean_pooling"] = fuse_mean_pooling(view)
    drop_dead(view)
    found["function"] = fuse_functions(view)
    drop_dead(view)
    return found
