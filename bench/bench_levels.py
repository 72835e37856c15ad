"""An MNIST CNN dispute through every ML level on a fresh Anvil (docs/levels.md): a liar's wrong output element
in a middle tile of the second convolution, disputed by an honest challenger via the node driver, down to one
MIPS step on chain.

Figures: committing the model (tiling plan + roots), the honest request-level trace, the gas of the request
(784-byte input, its tensor commitment computed on chain) and of the submission, the dispute's wall time
(challenge to resolution), transactions and gas, the gas of each level's `openLevel` (with its 15 or fewer
first checkpoints) and of the deciding step; and each link verifier's gas on its own (an eth_estimateGas of the
honest `verifyLink` call, 21k intrinsic gas included).
"""

from __future__ import annotations

import time

import numpy as np

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.tx import TxSender
from opml.game.types import Phase, Role
from opml.levels.commitments import ModelCommitment
from opml.levels.faults import WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.paths import REPO_ROOT
from opml.stacks.driver import GameDriver, Party, anvil_warp, chain_time
from opml.stacks.ml import deploy_ml_stack

MODELS = REPO_ROOT / "models"
LIE = WrongOutput(node=3, element=1600, vm_step=None)  # tile 8 of 16 of the second convolution, its exit step


def _verify_gas(w3, levels, honest: RequestLevel) -> dict[str, int]:  # noqa: ANN001
    graph = honest.graph
    tiles = graph.tile_level(3)
    vm = tiles.vm_level(8)
    anchor = honest.root_at(0)
    context = honest.commitment.graph_context
    tile_context = graph.link_proof(3).verify(context, 3, graph.root_at(3), graph.root_at(4),
                                              tiles.root_at(tiles.length), tiles.length)[1]
    calls = {
        "request_graph": (levels.links[0], (anchor, 0, anchor, honest.root_at(1), graph.root_at(graph.length),
                                            graph.length, honest.link_proof(0).encode())),
        "graph_tile": (levels.links[1], (context, 3, graph.root_at(3), graph.root_at(4), tiles.root_at(tiles.length),
                                         tiles.length, graph.link_proof(3).encode())),
        "tile_vm": (levels.links[2], (tile_context, 8, tiles.root_at(8), tiles.root_at(9), vm.root_at(vm.length),
                                      vm.length, tiles.link_proof(8).encode())),
    }
    return {f"levels_verify_{name}_gas": contract.functions.verifyLink(args[:6], args[6]).estimate_gas()
            for name, (contract, args) in calls.items()}


def run() -> dict[str, float | int]:
    quantized = QuantizedModel.load(MODELS / "mnist_cnn.opml")
    with np.load(MODELS / "mnist_data.npz") as data:
        digit = quantized.quantize_input(as_float_input(data["test_x"][1203]))
    started = time.perf_counter()
    commitment = ModelCommitment(quantized.model, plan_model(quantized.model))
    commitment.roots  # noqa: B018
    commit_s = time.perf_counter() - started
    started = time.perf_counter()
    honest = RequestLevel(commitment, digit)
    honest.submission()
    trace_s = time.perf_counter() - started
    liar = LyingRequestLevel(commitment, digit, {LIE})
    with Anvil() as node:
        w3 = node.web3()
        stack = deploy_ml_stack(w3)
        model_id = stack.register(commitment)
        errors = stack.bindings.errors()
        requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
        c = stack.bindings.coordinator
        mined = requester.send(c.request(model_id, digit.tobytes()), value=stack.config.model_fee)
        request_id = c.events("RequestCreated", mined.receipt)[0]["requestId"]
        submitted = submitter.send(c.submit(request_id, *liar.submission()), value=stack.config.submitter_bond)
        started = time.perf_counter()
        challenged = challenger.send(c.challenge(request_id), value=stack.config.challenger_bond)
        game_id = c.events("Challenged", challenged.receipt)[0]["gameId"]
        log = GameDriver(stack.bindings, chain_time(w3), anvil_warp(w3)).play({game_id: [
            Party(Role.SUBMITTER, submitter, liar, "liar"), Party(Role.CHALLENGER, challenger, honest, "honest")]})
        wall = time.perf_counter() - started
        figures = _verify_gas(w3, stack.levels, honest)
    outcome = log.outcomes[game_id]
    if outcome.phase is not Phase.CHALLENGER_WON or log.rejections or outcome.openings != (0, 3, 8):
        raise RuntimeError(f"the benchmark dispute went wrong: {outcome}, rejections {log.rejections}")
    moves = log.moves_in(game_id)
    opens = [m.gas_used for m in moves if m.action == "OpenLevel"]
    return {
        "levels_commit_mnist_cnn_s": round(commit_s, 3),
        "levels_honest_trace_s": round(trace_s, 3),
        "levels_request_gas": mined.gas_used,
        "levels_submit_gas": submitted.gas_used,
        "levels_dispute_wall_s": round(wall, 3),
        "levels_dispute_txs": 1 + len(moves),
        "levels_dispute_gas": challenged.gas_used + sum(m.gas_used for m in moves),
        "levels_open_graph_gas": opens[0],
        "levels_open_tile_gas": opens[1],
        "levels_open_vm_gas": opens[2],
        "levels_step_gas": moves[-1].gas_used,
        **figures,
    }
