"""ABI structs: the tuple types derived from the field annotations are the verifier contracts' struct layouts,
and `encode` is `abi.encode` of the fields in order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_abi import encode

from opml.levels.abi_struct import AbiStruct, Bytes32, Bytes32Matrix, Uint
from opml.levels.commitments import NodeDef
from opml.levels.links import GraphTileProof, RequestGraphProof, TileVmProof
from opml.levels.llm_commitment import LlmGraph
from opml.levels.llm_links import RequestTokenProof

NODE = "(uint256,uint256[],uint256,bytes32,uint256,uint256,uint256)"
LLM_GRAPH = "(bytes32,uint256,uint256,uint256,uint256,uint256,uint256,uint256[],uint256[],uint256,uint256)"


@pytest.mark.parametrize(("struct", "layout"), [
    (NodeDef, NODE),
    (LlmGraph, LLM_GRAPH),
    (RequestGraphProof, "(bytes32,uint256,uint256,uint256,uint256,bytes32,bytes32,bytes32,bytes32[],bytes32[])"),
    (GraphTileProof, f"(bytes32,uint256,uint256,bytes32,{NODE},bytes32[],bytes32,bytes32[],bytes32[],bytes32[][],"
                     "bytes32[])"),
    (TileVmProof, "(bytes32,bytes,bytes32[],uint256,uint256,uint256,bytes,bytes32[])"),
    (RequestTokenProof, f"({LLM_GRAPH},bytes32,bytes32,bytes,uint256,bytes32[])"),
])
def test_derived_types_are_the_contract_layouts(struct: type[AbiStruct], layout: str) -> None:
    assert struct.abi_type() == layout


def test_encode_takes_fields_in_order_arrays_as_lists_and_nested_structs_as_tuples() -> None:
    node = NodeDef(3, (1, 2), 4, b"\x05" * 32, 6, 7, 8)
    siblings = (b"\x0a" * 32, b"\x0b" * 32)
    proof = GraphTileProof(b"\x01" * 32, 9, 2, b"\x02" * 32, node, siblings, b"\x03" * 32, (), siblings,
                           (siblings, ()), siblings[:1])
    want = encode([GraphTileProof.abi_type()], [(
        b"\x01" * 32, 9, 2, b"\x02" * 32, (3, [1, 2], 4, b"\x05" * 32, 6, 7, 8), list(siblings), b"\x03" * 32, [],
        list(siblings), [list(siblings), []], [siblings[0]])])
    assert proof.encode() == want


def test_a_field_without_an_abi_type_is_named() -> None:
    @dataclass(frozen=True)
    class Loose(AbiStruct):
        root: Bytes32
        count: int

    with pytest.raises(TypeError, match="field count"):
        Loose.abi_type()


def test_matrix_fields_encode_as_nested_arrays() -> None:
    @dataclass(frozen=True)
    class Rows(AbiStruct):
        n: Uint
        rows: Bytes32Matrix

    rows = Rows(2, ((b"\x01" * 32,), (b"\x02" * 32, b"\x03" * 32)))
    assert Rows.abi_type() == "(uint256,bytes32[][])"
    assert rows.encode() == encode(["(uint256,bytes32[][])"], [(2, [[b"\x01" * 32], [b"\x02" * 32, b"\x03" * 32]])])
