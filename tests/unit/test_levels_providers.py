"""The level trace providers (request → graph → tile → VM) on a small CNN: honest traces link at every
boundary (Python link checks), every level's end projects onto its parent, and each fault lands where it says:
a wrong output diverges at its node, its tile and its VM step and is caught only by that step; a forged link
fails its named check."""

from __future__ import annotations

import numpy as np
import pytest
from test_levels_commitments import tiny_commitment, tiny_image

from opml.game.solver import provider_at_depth
from opml.game.trace import LastLevel, NotLastLevel, TraceError, TraceProvider
from opml.hashing import keccak
from opml.levels.commitments import EMPTY_TENSOR, tensor_commitment
from opml.levels.faults import FaultError, ForgeGraphLink, ForgeOutput, ForgeTileLink, WrongOutput, \
    believed_values, corrupt_element
from opml.levels.lies import LyingRequestLevel
from opml.levels.links import LinkError
from opml.levels.request_level import RequestLevel, input_from_bytes
from opml.ml import executor
from opml.ml.errors import InputError
from opml.vm import layout
from opml.vm.state import Status
from opml.vm.replay import execute_witness


@pytest.fixture(scope="module")
def honest() -> RequestLevel:
    return RequestLevel(tiny_commitment(), tiny_image())


def _liar(*faults) -> RequestLevel:  # noqa: ANN002
    return LyingRequestLevel(tiny_commitment(), tiny_image(), faults)


def _first_difference(a: TraceProvider, b: TraceProvider) -> int | None:
    return next((i for i in range(a.length + 1) if a.root_at(i) != b.root_at(i)), None)


def test_providers_implement_the_trace_interface(honest: RequestLevel) -> None:
    graph = honest.graph
    tiles = graph.tile_level(0)
    vm = tiles.vm_level(0)
    for level in (honest, graph, tiles, vm):
        assert isinstance(level, TraceProvider)
    assert [level.is_last_level for level in (honest, graph, tiles, vm)] == [False, False, False, True]
    with pytest.raises(LastLevel):
        vm.open_next(0)
    with pytest.raises(NotLastLevel):
        graph.step_witness(0)
    with pytest.raises(TraceError):
        graph.root_at(graph.length + 1)
    with pytest.raises(TraceError):
        tiles.open_next(tiles.length)


def test_every_honest_link_holds_and_projects(honest: RequestLevel) -> None:
    c, graph = honest.commitment, honest.graph
    anchor = honest.root_at(0)
    start, context = honest.link_proof(0).verify(anchor, 0, anchor, honest.root_at(1), graph.root_at(graph.length),
                                                 graph.length)
    assert start == graph.root_at(0) and context == c.graph_context and graph.length == len(c.nodes)
    for k in range(graph.length):
        tiles = graph.tile_level(k)
        sub_start, tile_context = graph.link_proof(k).verify(context, k, graph.root_at(k), graph.root_at(k + 1),
                                                             tiles.root_at(tiles.length), tiles.length)
        assert sub_start == tiles.root_at(0) == EMPTY_TENSOR
        for t in range(tiles.length):
            vm = tiles.vm_level(t)
            vm_start, _ = tiles.link_proof(t).verify(tile_context, t, tiles.root_at(t), tiles.root_at(t + 1),
                                                     vm.root_at(vm.length), vm.length)
            final = vm.final_state
            assert vm_start == vm.root_at(0)
            assert final.status == Status.EXITED and final.exit_code == 0 and vm.final_step < vm.length
            out = final.memory.region_root(layout.OUTPUT.base, layout.OUTPUT.log2_size)
            assert out == tiles.root_at(t + 1), f"node {k} tile {t}"


def test_graph_states_hold_the_native_outputs(honest: RequestLevel) -> None:
    c, graph = honest.commitment, honest.graph
    trace = executor.run(c.model, tiny_image())
    end = graph.commitments_at(graph.length)
    assert end == {slot: tensor_commitment(value) for slot, value in trace.values.items()}
    assert honest.root_at(1) == end[c.output_slot] == tensor_commitment(trace.result[0])
    output, trace_commitment = honest.submission()
    assert output == trace.result[0].tobytes() and trace_commitment == graph.root_at(graph.length)


def test_vm_padding_repeats_the_halted_state(honest: RequestLevel) -> None:
    vm = honest.graph.tile_level(4).vm_level(1)
    assert vm.root_at(vm.final_step) == vm.root_at(vm.length) != vm.root_at(vm.final_step - 1)
    witness = vm.step_witness(vm.final_step - 1)
    assert keccak(execute_witness(witness.state_data, witness.proof_data)) == vm.root_at(vm.final_step)


@pytest.mark.parametrize("node, element, vm_step", [(0, 50, 1), (4, 3, None), (6, 2, 17), (7, 0, 5)])
def test_wrong_output_diverges_at_its_node_tile_and_step(honest, node: int, element: int,  # noqa: ANN001
                                                         vm_step: int | None) -> None:
    liar = _liar(WrongOutput(node, element, vm_step=vm_step))
    assert _first_difference(liar.graph, honest.graph) == node + 1
    lying_tiles, tiles = liar.graph.tile_level(node), honest.graph.tile_level(node)
    tile = element // tiles.plan.tile_elems
    assert _first_difference(lying_tiles, tiles) == tile + 1
    lying_vm, vm = lying_tiles.vm_level(tile), tiles.vm_level(tile)
    lie_at = vm.final_step if vm_step is None else vm_step
    assert _first_difference(lying_vm, vm) == lie_at
    # the lie is consistent across links: the liar can open every level down to its VM run …
    graph_context = liar.link_proof(0).verify(liar.root_at(0), 0, liar.root_at(0), liar.root_at(1),
                                              liar.graph.root_at(liar.graph.length), liar.graph.length)[1]
    tile_context = liar.graph.link_proof(node).verify(graph_context, node, liar.graph.root_at(node),
                                                      liar.graph.root_at(node + 1),
                                                      lying_tiles.root_at(lying_tiles.length), lying_tiles.length)[1]
    lying_tiles.link_proof(tile).verify(tile_context, tile, lying_tiles.root_at(tile), lying_tiles.root_at(tile + 1),
                                        lying_vm.root_at(lying_vm.length), lying_vm.length)
    # … and only the one step into state `lie_at`, executed from the agreed state, exposes it
    witness = vm.step_witness(lie_at - 1)
    assert keccak(execute_witness(witness.state_data, witness.proof_data)) == vm.root_at(lie_at)
    assert vm.root_at(lie_at) != lying_vm.root_at(lie_at)


def test_solver_descends_the_levels(honest: RequestLevel) -> None:
    vm = provider_at_depth(honest, (0, 2, 1))
    assert vm is honest.graph.tile_level(2).vm_level(1) and vm.is_last_level


def test_forged_graph_link_fails_the_tile_end_check() -> None:
    liar, k = _liar(ForgeGraphLink(2)), 2
    graph, tiles = liar.graph, liar.graph.tile_level(k)
    with pytest.raises(LinkError) as info:
        graph.link_proof(k).verify(liar.commitment.graph_context, k, graph.root_at(k), graph.root_at(k + 1),
                                   tiles.root_at(tiles.length), tiles.length)
    assert info.value.name == "TileEndMismatch"


def test_forged_tile_link_fails_the_output_root_check(honest: RequestLevel) -> None:
    liar, k, t = _liar(ForgeTileLink(1, 2)), 1, 2
    tiles = liar.graph.tile_level(k)
    assert _first_difference(tiles, honest.graph.tile_level(k)) == t + 1
    context = liar.graph.link_proof(k).verify(liar.commitment.graph_context, k, liar.graph.root_at(k),
                                              liar.graph.root_at(k + 1), tiles.root_at(tiles.length),
                                              tiles.length)[1]
    vm = tiles.vm_level(t)
    with pytest.raises(LinkError) as info:
        tiles.link_proof(t).verify(context, t, tiles.root_at(t), tiles.root_at(t + 1), vm.root_at(vm.length),
                                   vm.length)
    assert info.value.name == "OutputRootMismatch"


def test_forged_output_fails_the_request_link() -> None:
    liar = _liar(ForgeOutput())
    graph = liar.graph
    with pytest.raises(LinkError) as info:
        liar.link_proof(0).verify(liar.root_at(0), 0, liar.root_at(0), liar.root_at(1), graph.root_at(graph.length),
                                  graph.length)
    assert info.value.name == "OutputNotInEndState"


def test_fault_arguments_are_checked() -> None:
    value = np.array([127, -128, 0], dtype=np.int8)
    assert corrupt_element(value, 0, 1).tolist() == [-128, -128, 0]
    assert corrupt_element(value, 1, -1).tolist() == [127, 127, 0]
    with pytest.raises(FaultError):
        corrupt_element(value, 3, 1)
    with pytest.raises(FaultError):
        corrupt_element(value, 2, 256)
    with pytest.raises(FaultError):
        believed_values(tiny_commitment().model, tiny_image(), [WrongOutput(8, 0)])


def test_request_input_must_be_the_model_input() -> None:
    with pytest.raises(InputError, match="int8"):
        RequestLevel(tiny_commitment(), np.zeros((1, 1, 6, 5), dtype=np.int8))
    with pytest.raises(InputError):
        RequestLevel(tiny_commitment(), np.zeros((1, 1, 6, 6), dtype=np.int32))


def test_request_bytes_decode_to_the_input_tensor() -> None:
    c, x = tiny_commitment(), tiny_image()
    assert np.array_equal(input_from_bytes(c, x.tobytes()), x)
    assert RequestLevel(c, input_from_bytes(c, x.tobytes())).root_at(0) == RequestLevel(c, x).root_at(0)
    with pytest.raises(InputError, match="35 bytes"):
        input_from_bytes(c, x.tobytes()[:-1])


def test_a_vm_lie_must_land_inside_the_vm_trace() -> None:
    liar = _liar(WrongOutput(7, 0, vm_step=1 << 20))
    with pytest.raises(FaultError, match="outside"):
        liar.graph.tile_level(7).vm_level(0)
