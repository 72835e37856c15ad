"""Shared checks for the level tests on chain: every node's graph → tile → VM links verify on Anvil as in Python,
a submitter lying in one output element of a node loses a dispute decided by one MIPS step at that node, and
`dispute_to_the_end` (request, submit, challenge, play until the game is over)."""

from __future__ import annotations

from fixtures_game import ML_STACK_CONFIG, GameStack, Played, advance_time, challenge, events, play, request, send
from web3.contract import Contract

from opml.game.types import Phase, Role
from opml.levels.commitments import EMPTY_TENSOR, tensor_commitment
from opml.levels.faults import WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel


def dispute_to_the_end(stack: GameStack, submitter: RequestLevel, challenger: RequestLevel) -> Played:
    """Request `submitter`'s input (the chain's anchor must be the one Python computes), submit what it claims,
    challenge, and play to the end: a party that stalls loses on time. `rejected` holds the moves of both rounds."""
    request_id, receipt = request(stack, submitter.input_value.tobytes())
    (created,) = events(stack.coordinator.events.RequestCreated, receipt)
    request_anchor = submitter.commitment.anchor(tensor_commitment(submitter.input_value))
    assert bytes(created["anchor"]) == request_anchor  # the anchor the chain computed is Python's
    send(stack, stack.coordinator.functions.submit(request_id, *submitter.submission()), stack.submitter,
         stack.config.submitter_bond)
    game_id, _ = challenge(stack, request_id)
    providers = {Role.SUBMITTER: submitter, Role.CHALLENGER: challenger}
    played = play(stack, game_id, providers)
    if not played.final.phase.is_over:
        advance_time(stack.w3, stack.config.clock_seconds + 1)
        rest = play(stack, game_id, providers)
        rest.rejected[:0] = played.rejected
        played = rest
    return played


def assert_every_node_links(graph_tile: Contract, tile_vm: Contract, honest: RequestLevel) -> None:
    """graph → tile for every node and tile → VM for its first and last tile: the verifiers accept the honest
    openings and return the sub-start and context Python computes."""
    g = honest.graph
    for k in range(g.length):
        tiles = g.tile_level(k)
        args = (honest.commitment.graph_context, k, g.root_at(k), g.root_at(k + 1), tiles.root_at(tiles.length),
                tiles.length)
        start, context = graph_tile.functions.verifyLink(args, g.link_proof(k).encode()).call()
        where = f"node {k} ({honest.commitment.model.nodes[k].op.value})"
        assert (bytes(start), bytes(context)) == g.link_proof(k).verify(*args) and bytes(start) == EMPTY_TENSOR, where
        for t in sorted({0, tiles.length - 1}):
            vm = tiles.vm_level(t)
            vm_args = (bytes(context), t, tiles.root_at(t), tiles.root_at(t + 1), vm.root_at(vm.length), vm.length)
            vm_start, vm_context = tile_vm.functions.verifyLink(vm_args, tiles.link_proof(t).encode()).call()
            assert (bytes(vm_start), bytes(vm_context)) == tiles.link_proof(t).verify(*vm_args), f"{where} tile {t}"
            assert bytes(vm_start) == vm.root_at(0), f"{where} tile {t}"


def assert_a_lie_at_node_loses_in_one_step(game: GameStack, honest: RequestLevel, node: int, delta: int) -> None:
    """A submitter adding `delta` to the first element of node `node`'s last tile is challenged by `honest` and
    loses: the game opens (request, node, tile) down to the VM level and one MIPS step computes the honest post."""
    c = honest.commitment
    element = c.nodes[node].plan.tile(c.nodes[node].plan.tile_count - 1)[0]
    liar = LyingRequestLevel(c, honest.input_value, {WrongOutput(node, element, delta=delta, vm_step=None)})
    request_id, receipt = request(game, liar.input_value.tobytes())
    (created,) = events(game.coordinator.events.RequestCreated, receipt)
    assert bytes(created["anchor"]) == c.anchor(tensor_commitment(liar.input_value))
    send(game, game.coordinator.functions.submit(request_id, *liar.submission()), game.submitter,
         ML_STACK_CONFIG.submitter_bond)
    game_id, _ = challenge(game, request_id)
    played = play(game, game_id, {Role.SUBMITTER: liar, Role.CHALLENGER: honest})
    assert played.final.phase is Phase.CHALLENGER_WON and not played.rejected, played.final
    tile = element // c.nodes[node].plan.tile_elems
    assert played.final.openings == (0, node, tile) and played.final.depth == 3
    (stepped,) = events(game.game.events.Stepped, played.receipts[-1])
    assert bytes(stepped["computedPost"]) == honest.graph.tile_level(node).vm_level(tile).root_at(played.final.hi)
