"""The ML link verifiers on Anvil against the Python link proofs: honest links give the sub-start and context
Python computes (so Python and Solidity roots are equal); every forged link is rejected with its named error,
and the Python verifier names the same error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from link_verdicts import both as _both
from link_verdicts import link_args
from link_verdicts import on_chain as _call
from web3 import Web3

from opml.chain.tx import ErrorDecoder
from opml.hashing import keccak
from opml.levels.commitments import EMPTY_TENSOR, ModelCommitment, commit_model, tensor_commitment
from opml.levels.request_level import RequestLevel
from opml.levels.tiling import TilingPolicy, plan_model
from opml.ml import Model, Node, TensorSpec
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT
from opml.stacks.ml import LevelContracts, deploy_level_contracts

MODELS = REPO_ROOT / "models"
BAD = keccak(b"not this root")


@pytest.fixture(scope="module")
def contracts(w3: Web3, contracts_built: None) -> LevelContracts:
    return deploy_level_contracts(w3)


@pytest.fixture(scope="module")
def errors(contracts: LevelContracts) -> ErrorDecoder:
    return ErrorDecoder.from_abis(*(c.abi for c in contracts.links), contracts.commitment.abi)


@pytest.fixture(scope="module")
def request_level() -> RequestLevel:
    quantized = QuantizedModel.load(MODELS / "mnist_cnn.opml")
    with np.load(MODELS / "mnist_data.npz") as data:
        x = quantized.quantize_input(as_float_input(data["test_x"][3]))
    return RequestLevel(ModelCommitment(quantized.model, plan_model(quantized.model)), x)


# -- request → graph ------------------------------------------------------------------------------------------
def _request_args(r: RequestLevel) -> tuple:
    return link_args(r.root_at(0), r, 0, r.graph)


def test_tensor_commitment_matches_python(contracts: LevelContracts) -> None:
    rng = np.random.default_rng(1)
    for size in (0, 1, 31, 32, 64, 65, 784, 3000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert bytes(contracts.commitment.functions.commitInput(1, data).call()) == tensor_commitment(data)
        assert bytes(contracts.commitment.functions.commitOutput(1, data).call()) == tensor_commitment(data)
    assert tensor_commitment(b"") == EMPTY_TENSOR


def test_request_graph_link_accepts_the_honest_opening(contracts, errors, request_level) -> None:
    r = request_level
    on_chain, python = _both(contracts.links[0], errors, r.link_proof(0), _request_args(r))
    assert on_chain == python == (r.graph.root_at(0), r.commitment.graph_context)


@pytest.mark.parametrize("forgery, error", [
    ("constants_root", "AnchorMismatch"),
    ("node_count", "AnchorMismatch"),
    ("sub_length", "GraphLengthMismatch"),
    ("short_input_proof", "ProofLength"),
    ("input_siblings", "InputSlotNotEmpty"),
    ("claimed_output", "OutputNotInEndState"),
    ("graph_end", "OutputNotInEndState"),
])
def test_request_graph_link_rejects_forgeries(contracts, errors, request_level, forgery: str, error: str) -> None:
    r = request_level
    proof, args = r.link_proof(0), list(_request_args(r))
    match forgery:
        case "constants_root":
            proof = replace(proof, constants_root=BAD)
        case "node_count":  # a shorter graph is a different graph root
            proof = replace(proof, node_count=proof.node_count - 1)
            args[5] -= 1
        case "sub_length":
            args[5] += 1
        case "short_input_proof":
            proof = replace(proof, input_siblings=proof.input_siblings[:-1])
        case "input_siblings":
            proof = replace(proof, input_siblings=(BAD, *proof.input_siblings[1:]))
        case "claimed_output":
            args[3] = tensor_commitment(b"\x07" * 10)
        case "graph_end":
            args[4] = r.graph.root_at(r.graph.length - 1)
    assert _both(contracts.links[0], errors, proof, tuple(args)) == (error, error)


# -- graph → tile ---------------------------------------------------------------------------------------------
def _graph_args(r: RequestLevel, k: int) -> tuple:
    return link_args(r.commitment.graph_context, r.graph, k, r.graph.tile_level(k))


def test_graph_tile_link_accepts_every_honest_node(contracts, errors, request_level) -> None:
    g = request_level.graph
    for k in range(g.length):
        tiles = g.tile_level(k)
        on_chain, python = _both(contracts.links[1], errors, g.link_proof(k), _graph_args(request_level, k))
        assert on_chain == python, f"node {k}"
        assert on_chain[0] == tiles.root_at(0) == EMPTY_TENSOR
        assert tiles.root_at(0) != tiles.root_at(tiles.length)


@pytest.mark.parametrize("forgery, error", [
    ("context", "ContextMismatch"),
    ("index_past_end", "NodeIndexOutOfRange"),
    ("other_index", "NodeNotInGraph"),
    ("tile_elems", "NodeNotInGraph"),
    ("code_root", "KernelNotInSet"),
    ("input_root", "InputNotInState"),
    ("dropped_input", "InputCountMismatch"),
    ("output_filled", "OutputSlotNotEmpty"),
    ("tile_end", "TileEndMismatch"),
    ("claimed_post", "TileEndMismatch"),
    ("sub_length", "TileCountMismatch"),
    ("short_output_proof", "ProofLength"),
])
def test_graph_tile_link_rejects_forgeries(contracts, errors, request_level, forgery: str, error: str) -> None:
    r, k = request_level, 3
    g = r.graph
    proof, args = g.link_proof(k), list(_graph_args(r, k))
    match forgery:
        case "context":
            args[0] = BAD
        case "index_past_end":
            args[1] = g.length
        case "other_index":
            args[1] = k + 1
        case "tile_elems":
            proof = replace(proof, node=replace(proof.node, tile_elems=proof.node.tile_elems * 2))
            args[5] = proof.node.plan.tile_count
        case "code_root":
            proof = replace(proof, code_root=BAD)
        case "input_root":
            proof = replace(proof, input_roots=(BAD, *proof.input_roots[1:]))
        case "dropped_input":
            proof = replace(proof, input_roots=proof.input_roots[1:], input_siblings=proof.input_siblings[1:])
        case "output_filled":  # node k's output already in the "agreed" state: S_{k+1} posing as S_k
            after, c, node = g.commitments_at(k + 1), r.commitment, proof.node
            proof = replace(proof, input_siblings=tuple(tuple(c.slot_proof(after, s)) for s in node.inputs),
                            output_siblings=tuple(c.slot_proof(after, node.output)))
            args[2] = g.root_at(k + 1)
        case "tile_end":
            args[4] = g.tile_level(k).root_at(g.tile_level(k).length - 1)
        case "claimed_post":
            args[3] = g.root_at(k + 2)
        case "sub_length":
            args[5] += 1
        case "short_output_proof":
            proof = replace(proof, output_siblings=proof.output_siblings[1:])
    assert _both(contracts.links[1], errors, proof, tuple(args)) == (error, error)


# -- tile → VM ------------------------------------------------------------------------------------------------
def _tile_args(r: RequestLevel, k: int, t: int) -> tuple:
    tiles = r.graph.tile_level(k)
    context = r.graph.link_proof(k).verify(*_graph_args(r, k))[1]
    return link_args(context, tiles, t, tiles.vm_level(t))


@pytest.mark.parametrize("k", [0, 2, 6, 8])
def test_tile_vm_link_accepts_honest_tiles(contracts, errors, request_level, k: int) -> None:
    tiles = request_level.graph.tile_level(k)
    for t in sorted({0, tiles.length // 2, tiles.length - 1}):
        vm = tiles.vm_level(t)
        on_chain, python = _both(contracts.links[2], errors, tiles.link_proof(t), _tile_args(request_level, k, t))
        assert on_chain == python, f"node {k} tile {t}"
        assert on_chain[0] == vm.root_at(0) == vm.state_at(0).hash()  # the start computed from roots alone
        assert vm.final_step < vm.length


@pytest.mark.parametrize("forgery, error", [
    ("context", "ContextMismatch"),
    ("attrs", "ContextMismatch"),
    ("index_past_end", "TileIndexOutOfRange"),
    ("sub_length", "VmLengthMismatch"),
    ("final_state_length", "BadFinalState"),
    ("sub_end", "FinalStateMismatch"),
    ("not_exited", "VmDidNotExit"),
    ("claimed_post", "OutputRootMismatch"),
    ("output_siblings", "OutputRootMismatch"),
    ("short_output_proof", "ProofLength"),
])
def test_tile_vm_link_rejects_forgeries(contracts, errors, request_level, forgery: str, error: str) -> None:
    r, k, t = request_level, 1, 5
    tiles = r.graph.tile_level(k)
    proof, args = tiles.link_proof(t), list(_tile_args(r, k, t))
    match forgery:
        case "context":
            args[0] = BAD
        case "attrs":
            proof = replace(proof, attrs=proof.attrs + b"\0\0\0\0")
        case "index_past_end":
            args[1] = tiles.length
        case "sub_length":
            args[5] //= 2
        case "final_state_length":
            proof = replace(proof, final_state=proof.final_state + b"\0")
        case "sub_end":
            args[4] = tiles.vm_level(t).root_at(7)
        case "not_exited":
            running = tiles.vm_level(t).state_at(7).encode()
            proof, args[4] = replace(proof, final_state=running), keccak(running)
        case "claimed_post":
            args[3] = tiles.root_at(t + 2)
        case "output_siblings":
            proof = replace(proof, output_siblings=(BAD, *proof.output_siblings[1:]))
        case "short_output_proof":
            proof = replace(proof, output_siblings=proof.output_siblings[:3])
    assert _both(contracts.links[2], errors, proof, tuple(args)) == (error, error)


def test_a_one_node_one_tile_model_links_on_chain(contracts, errors) -> None:
    """Degenerate trees: one node (a node tree of depth 0), one tile, two slots."""
    model = Model("relu", [TensorSpec("x", "int8", (4, 5)), TensorSpec("y", "int8", (4, 5))], [0], [1],
                  [Node.make("ReLU", [0], 1)], {}).validate()
    r = RequestLevel(commit_model(model, TilingPolicy(max_tiles=1)), np.arange(-10, 10, dtype=np.int8).reshape(4, 5))
    graph = r.graph
    tiles = graph.tile_level(0)
    vm = tiles.vm_level(0)
    assert (graph.length, tiles.length, r.commitment.node_depth, r.commitment.slot_depth) == (1, 1, 0, 1)
    on_chain, python = _both(contracts.links[0], errors, r.link_proof(0), _request_args(r))
    assert on_chain == python and on_chain[0] == graph.root_at(0)
    on_chain, python = _both(contracts.links[1], errors, graph.link_proof(0), _graph_args(r, 0))
    assert on_chain == python and on_chain[0] == tiles.root_at(0)
    on_chain, python = _both(contracts.links[2], errors, tiles.link_proof(0), _tile_args(r, 0, 0))
    assert on_chain == python and on_chain[0] == vm.root_at(0)
    assert graph.root_at(1) != graph.root_at(0) and tiles.root_at(1) == r.root_at(1)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_malformed_proof_bytes_are_rejected(contracts, errors, request_level, level: int) -> None:
    r = request_level
    args = {0: _request_args(r), 1: _graph_args(r, 3), 2: _tile_args(r, 1, 5)}[level]
    honest = {0: r.link_proof(0), 1: r.graph.link_proof(3), 2: r.graph.tile_level(1).link_proof(5)}[level].encode()
    for proof in (b"", b"\x01" * 31, honest[: len(honest) // 2]):
        assert isinstance(_call(contracts.links[level], errors, (*args, proof)), str)
