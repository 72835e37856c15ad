"""The model file: one self-checking binary file.

    offset  size  field
    0       8     magic b"OPMLMODL"
    8       4     format version (u32 little-endian)
    12      4     header length H (u32 little-endian)
    16      H     header: UTF-8 JSON (name, tensors, inputs, outputs, nodes, constant offsets)
    ...           zero padding to a multiple of 64
    B       D     constants: each tensor's raw little-endian C-order bytes at B + offset (offset % 64 == 0)
    end−32  32    keccak256 of every byte before it

Loading checks the checksum first (any corruption is detected), then the header schema, then the whole model
(`model.validate`). Every failure raises ModelError saying what is wrong.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..hashing import keccak
from .errors import MLError, ModelError
from .model import FORMAT_VERSION, Model, Node, TensorSpec
from .tensor import DTYPES

MAGIC = b"OPMLMODL"
ALIGN = 64
CHECKSUM_BYTES = 32
_PREFIX = struct.Struct("<8sII")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TensorEntry(_Strict):
    name: StrictStr
    dtype: StrictStr
    shape: list[StrictInt]
    constant: StrictBool = False
    offset: Annotated[StrictInt, Field(ge=0)] | None = None


class _NodeEntry(_Strict):
    op: StrictStr
    inputs: list[StrictInt]
    output: StrictInt
    attrs: dict[str, Any] = {}


class _Header(_Strict):
    name: StrictStr
    tensors: list[_TensorEntry]
    inputs: list[StrictInt]
    outputs: list[StrictInt]
    nodes: list[_NodeEntry]
    data_bytes: Annotated[StrictInt, Field(ge=0)]


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _layout_constants(model: Model) -> tuple[dict[int, int], int]:
    offsets, cursor = {}, 0
    for slot in sorted(model.constants):
        offsets[slot] = cursor
        cursor = _align(cursor + model.constants[slot].nbytes)
    return offsets, cursor


def to_bytes(model: Model) -> bytes:
    """Serialize a (valid) model; validates first so that no invalid file is ever written."""
    model.validate()
    offsets, data_bytes = _layout_constants(model)
    header = {
        "name": model.name,
        "tensors": [
            {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "constant": t.constant, "offset": offsets.get(i)}
            for i, t in enumerate(model.tensors)
        ],
        "inputs": list(model.inputs),
        "outputs": list(model.outputs),
        "nodes": [
            {"op": n.op.value, "inputs": list(n.inputs), "output": n.output, "attrs": n.attrs.model_dump(mode="json")}
            for n in model.nodes
        ],
        "data_bytes": data_bytes,
    }
    header_bytes = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head = _PREFIX.pack(MAGIC, model.format_version, len(header_bytes)) + header_bytes
    data = bytearray(data_bytes)
    for slot, offset in offsets.items():
        raw = np.ascontiguousarray(model.constants[slot]).astype(DTYPES[model.tensors[slot].dtype]).tobytes()
        data[offset:offset + len(raw)] = raw
    body = head + bytes(_align(len(head)) - len(head)) + bytes(data)
    return body + keccak(body)


def read_frame(blob: bytes, magic: bytes, version: int, what: str, error: type[Exception] = ModelError) -> int:
    """Checks a framed opml file (`magic | version | header length`, header and data, keccak of all that) and
    returns the header length; a wrong size, magic, version or checksum raises `error` naming `what` ("model")."""
    if len(blob) < _PREFIX.size + CHECKSUM_BYTES:
        raise error(f"{what} file too short ({len(blob)} bytes)")
    found_magic, found_version, header_len = _PREFIX.unpack_from(blob)
    if found_magic != magic:
        raise error(f"not an opml {what} file (magic {found_magic!r}, expected {magic!r})")
    if found_version != version:
        raise error(f"unsupported {what} format version {found_version} (this runtime reads {version})")
    body, checksum = blob[:-CHECKSUM_BYTES], blob[-CHECKSUM_BYTES:]
    if keccak(body) != checksum:
        raise error(f"{what} file checksum mismatch: the file is corrupted or truncated")
    if _PREFIX.size + header_len > len(body):
        raise error(f"header length {header_len} runs past the end of the file")
    return header_len


def _parse_header(raw: bytes) -> _Header:
    try:
        return _Header.model_validate(json.loads(raw.decode()))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model header is not valid UTF-8 JSON: {exc}") from None
    except ValidationError as exc:
        raise ModelError(f"model header does not match the schema: {exc}") from None


def _read_constant(entry: _TensorEntry, slot: int, data: bytes) -> np.ndarray:
    if entry.dtype not in DTYPES:
        raise ModelError(f"tensor {entry.name!r} (slot {slot}): dtype {entry.dtype!r} is not int8 or int32")
    if entry.offset is None or entry.offset % ALIGN:
        raise ModelError(f"constant {entry.name!r} (slot {slot}): offset {entry.offset} missing or not {ALIGN}-aligned")
    if any(d < 1 for d in entry.shape):
        raise ModelError(f"constant {entry.name!r} (slot {slot}): shape {entry.shape} has a dimension < 1")
    dtype = DTYPES[entry.dtype]
    count = math.prod(entry.shape)
    if entry.offset + count * dtype.itemsize > len(data):
        raise ModelError(f"constant {entry.name!r} (slot {slot}): data runs past the constants section")
    return np.frombuffer(data, dtype=dtype, count=count, offset=entry.offset).reshape(entry.shape).copy()


def _build(header: _Header, data: bytes) -> Model:
    tensors, constants = [], {}
    for slot, entry in enumerate(header.tensors):
        tensors.append(TensorSpec(entry.name, entry.dtype, tuple(entry.shape), entry.constant))
        if entry.constant:
            constants[slot] = _read_constant(entry, slot, data)
        elif entry.offset is not None:
            raise ModelError(f"tensor {entry.name!r} (slot {slot}) is not constant but has a data offset")
    nodes = []
    for index, entry in enumerate(header.nodes):
        try:
            nodes.append(Node.make(entry.op, entry.inputs, entry.output, entry.attrs))
        except MLError as exc:
            raise ModelError(f"node {index}: {exc}") from None
    return Model(header.name, tensors, list(header.inputs), list(header.outputs), nodes, constants)


def from_bytes(blob: bytes) -> Model:
    """Parse and fully validate a model file's bytes (ModelError on any problem)."""
    header_len = read_frame(blob, MAGIC, FORMAT_VERSION, "model")
    header_end = _PREFIX.size + header_len
    header = _parse_header(blob[_PREFIX.size:header_end])
    data_start = _align(header_end)
    data = blob[data_start:-CHECKSUM_BYTES]
    if len(data) != header.data_bytes:
        raise ModelError(f"constants section is {len(data)} bytes, header says {header.data_bytes}")
    return _build(header, data).validate()


def save(model: Model, path: str | Path) -> None:
    Path(path).write_bytes(to_bytes(model))


def read_bytes(path: str | Path, what: str = "model", error: type[Exception] = ModelError) -> bytes:
    """The bytes of the `what` file at `path`; an unreadable file raises `error` with the OS's reason."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def load(path: str | Path) -> Model:
    return from_bytes(read_bytes(path))
