"""The token input of an imported encoder: one int32 tensor `tokens` [k, S] whose row i is the ONNX graph's
i-th integer input (input_ids, attention_mask, token_type_ids, … in the graph's order), split inside the model by
one Gather per row (onnx_lower). The model records the order itself: the Gather that picks row i writes a tensor
named after that input, so `token_rows(model)` reads the names back from any model file.

Sequences shorter than S are padded with 0 (padding id, mask 0, token type 0); longer ones are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import InputError
from .model import Model
from .ops import OpType


def is_encoder(model: Model) -> bool:
    """Whether the model's one input is an int32 token tensor (an imported encoder)."""
    return len(model.inputs) == 1 and model.tensors[model.inputs[0]].dtype == "int32"


def token_rows(model: Model) -> list[str]:
    """The input name of each row of the token tensor, in row order."""
    tokens = model.inputs[0]
    rows: dict[int, str] = {}
    for node in model.nodes:
        if node.op is OpType.GATHER and node.inputs[0] == tokens and node.inputs[1] in model.constants:
            (row,) = model.constants[node.inputs[1]].reshape(-1).tolist()
            rows[int(row)] = model.tensors[node.output].name
    count = model.tensors[tokens].shape[0]
    if sorted(rows) != list(range(count)):
        raise InputError(f"model {model.name!r}: the rows of its token input are not all named ({rows})")
    return [rows[i] for i in range(count)]


def pack_tokens(model: Model, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The int32 [k, S] token input from one sequence per input name (1-D integer arrays, at most S long)."""
    names = token_rows(model)
    length = model.tensors[model.inputs[0]].shape[1]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise InputError(f"no array for the encoder inputs {missing} (given: {sorted(arrays)})")
    packed = np.zeros((len(names), length), dtype=np.int32)
    for row, name in enumerate(names):
        values = np.asarray(arrays[name])
        if values.ndim == 2 and len(values) == 1:
            values = values[0]
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise InputError(f"{name} must be one sequence of integers, got {values.dtype}{list(values.shape)}")
        if len(values) > length:
            raise InputError(f"{name} has {len(values)} tokens; the model takes at most {length}")
        if values.size and (values.min() < np.iinfo(np.int32).min or values.max() > np.iinfo(np.int32).max):
            raise InputError(f"{name} holds values outside int32")
        packed[row, : len(values)] = values
    return packed
