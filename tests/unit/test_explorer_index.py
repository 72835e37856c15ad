"""The explorer's pure parts: the index built from events (statuses, rounds, money as the Coordinator moves it),
the views and the bisection picture drawn from it, inputs as people know them, and the decisive instruction read
back from a real step witness."""

from __future__ import annotations

import re

import numpy as np
import pytest

from opml.chain.bindings import StackParams
from opml.paths import REPO_ROOT
from opml.explorer.follower import decisive_instruction
from opml.explorer.index import Index
from opml.explorer.inputs import describe, image_png, image_side
from opml.explorer.picture import ML_LEVELS, bisection_svg
from opml.explorer.views import ModelInfo, game_json, money_json, request_json
from opml.ml.png import _decode
from opml.node.monitor import ChainEvent
from opml.vm.elf import load_elf
from opml.vm.interp import run
from opml.vm.isa import disassemble
from opml.vm.witness import build_witness

ALICE, BOB, MALLORY, REQUESTER = ("0x" + c * 40 for c in "abcd")
ETHER = 10**18
PARAMS = StackParams(submitter_bond=2 * ETHER, challenger_bond=ETHER, burn_bps=1_000, challenge_window=600,
                     request_timeout=86_400, clock_seconds=3_600, checkpoint_count=3, num_levels=3)


class Chain:
    """Feeds events to an index, one block per `at` call."""

    def __init__(self) -> None:
        self.index = Index(PARAMS)
        self.block = 0

    def at(self, *events: tuple[str, dict]) -> None:
        self.block += 1
        for i, (name, args) in enumerate(events):
            self.index.apply(ChainEvent(name, args, self.block, i, "0x0"), 1_000 + self.block)


def _dispute(chain: Chain, fee: int = ETHER // 100) -> None:
    """Request 1, Mallory's wrong result, Bob's challenge: game 1 down graph (9) → tile (10) → VM (512); Bob wins."""
    chain.at(("RequestCreated", {"requestId": 1, "modelId": 1, "requester": REQUESTER, "fee": fee,
                                 "inputCommitment": b"\1" * 32, "callback": REQUESTER, "input": bytes(784)}))
    chain.at(("ResultSubmitted", {"requestId": 1, "submissionId": 1, "submitter": MALLORY,
                                  "outputCommitment": b"\2" * 32, "windowEnd": 1_700, "output": bytes(10)}))
    chain.at(("GameCreated", {"gameId": 1, "requestId": 1, "submissionId": 1, "submitter": MALLORY,
                              "challenger": BOB}),
             ("Challenged", {"requestId": 1, "submissionId": 1, "gameId": 1, "challenger": BOB}))
    for level, length, picks in ((0, 9, [(6, 9), (8, 9)]), (1, 10, [(2, 5), (3, 4)]),
                                 (2, 512, [(0, 128), (96, 128), (99, 100)])):
        chain.at(("LevelOpened", {"gameId": 1, "level": level, "parentIndex": 8 if level == 1 else 3,
                                  "subLength": length}))
        for lo, hi in picks:
            chain.at(("Bisected", {"gameId": 1, "level": level, "lo": 0, "hi": length, "checkpoints": [b"x"] * 3}))
            chain.at(("Picked", {"gameId": 1, "level": level, "segment": 1, "lo": lo, "hi": hi}))
    chain.at(("Stepped", {"gameId": 1, "preRoot": b"\3" * 32, "claimedPost": b"\4" * 32, "computedPost": b"\5" * 32}),
             ("GameResolved", {"gameId": 1, "winner": BOB, "submitterWon": False, "byTimeout": False}),
             ("Burned", {"amount": ETHER // 5}),
             ("Slashed", {"requestId": 1, "submissionId": 1, "submitter": MALLORY, "challenger": BOB}),
             ("GameSettled", {"gameId": 1, "submitterWon": False, "moot": False}))


def test_a_dispute_is_indexed_round_by_round_and_paid_as_the_coordinator_pays() -> None:
    chain = Chain()
    _dispute(chain)
    index = chain.index
    game = index.games[1]
    assert [(lv.level, lv.length, len(lv.rounds)) for lv in game.levels] == [(0, 9, 3), (1, 10, 3), (2, 512, 4)]
    assert game.levels[2].rounds[-1] == {"lo": 99, "hi": 100, "checkpoints": 0, "segment": 1}
    assert game.step is not None and game.step["claim_right"] is False and game.step["lo"] == 99
    assert index.requests[1].status == "open"  # reopened by the slash
    money = {a["address"]: a for a in money_json(index)["accounts"]}
    assert money[MALLORY]["lost_wei"] == str(2 * ETHER) and money[MALLORY]["burned_wei"] == str(ETHER // 5)
    assert money[BOB]["earned_wei"] == str(2 * ETHER - ETHER // 5) and money[BOB]["lost_wei"] == "0"
    assert money[REQUESTER]["fees_paid_wei"] == str(ETHER // 100)
    assert money_json(index)["burned_total_wei"] == str(ETHER // 5)

    # Alice answers the reopened request; unchallenged, it is finalized: she earns the fee
    chain.at(("ResultSubmitted", {"requestId": 1, "submissionId": 2, "submitter": ALICE,
                                  "outputCommitment": b"\6" * 32, "windowEnd": 2_000, "output": bytes(10)}))
    assert index.request_countdown(index.requests[1]) == {"what": "challenge window", "until": 2_000}
    chain.at(("Finalized", {"requestId": 1, "submissionId": 2, "submitter": ALICE, "outputCommitment": b"\6" * 32}))
    assert index.request_status(index.requests[1]) == "finalized" and index.request_countdown(index.requests[1]) is None
    assert {a["address"]: a for a in money_json(index)["accounts"]}[ALICE]["earned_wei"] == str(ETHER // 100)


def test_a_running_game_marks_its_request_challenged_and_a_submitter_win_pays_the_submitter() -> None:
    chain = Chain()
    chain.at(("RequestCreated", {"requestId": 1, "modelId": 1, "requester": REQUESTER, "fee": 5,
                                 "inputCommitment": b"\1" * 32, "callback": REQUESTER, "input": b"hi"}))
    assert chain.index.request_countdown(chain.index.requests[1]) == {"what": "answer by", "until": 1_001 + 86_400}
    chain.at(("ResultSubmitted", {"requestId": 1, "submissionId": 1, "submitter": ALICE,
                                  "outputCommitment": b"\2" * 32, "windowEnd": 1_700, "output": b"ok"}))
    chain.at(("GameCreated", {"gameId": 1, "requestId": 1, "submissionId": 1, "submitter": ALICE,
                              "challenger": MALLORY}),
             ("Challenged", {"requestId": 1, "submissionId": 1, "gameId": 1, "challenger": MALLORY}))
    assert chain.index.request_status(chain.index.requests[1]) == "challenged"
    chain.at(("GameResolved", {"gameId": 1, "winner": ALICE, "submitterWon": True, "byTimeout": True}),
             ("Burned", {"amount": ETHER // 10}),
             ("GameSettled", {"gameId": 1, "submitterWon": True, "moot": False}))
    assert chain.index.request_status(chain.index.requests[1]) == "submitted"
    view = game_json(chain.index, chain.index.games[1], {})
    assert view["verdict"] == "the submitter wins on time (the other's clock ran out)"
    assert view["payouts"] == {"moot": False, "winner": ALICE, "loser": MALLORY, "bond_lost_wei": str(ETHER),
                               "winner_gain_wei": str(ETHER - ETHER // 10), "burned_wei": str(ETHER // 10)}


def test_the_picture_draws_one_disputed_bar_per_round_narrowing_within_each_level() -> None:
    chain = Chain()
    _dispute(chain)
    models = {1: ModelInfo(kind="ml", name="cnn", input_shape=(1, 1, 28, 28), node_ops=tuple(f"op{i}" for i in
                                                                                              range(9)))}
    view = game_json(chain.index, chain.index.games[1], models)
    svg = view["picture"]
    bars = [tuple(int(v) for v in m) for m in
            re.findall(r'class="disputed" data-level="(\d+)" data-round="(\d+)" data-lo="(\d+)" data-hi="(\d+)"', svg)]
    assert len(bars) == 3 + 3 + 4
    assert bars[0] == (0, 0, 0, 9) and bars[-1] == (2, 3, 99, 100)
    for before, after in zip(bars, bars[1:]):
        if before[0] == after[0]:
            assert before[2] <= after[2] < after[3] <= before[3] and after[3] - after[2] < before[3] - before[2]
    assert "expands graph node 8 (op8)" in svg and "VM level · 512 VM steps" in svg
    assert view["levels"][1]["op"] == "op8" and "the challenger wins by the step" in svg
    assert svg.count('class="checkpoint"') == 3 * (2 + 2 + 3)  # 3 ticks on every row after the first
    assert bisection_svg([], ML_LEVELS).count('class="disputed"') == 0  # nothing opened: no bar, a note
    assert request_json(chain.index, chain.index.requests[1], models)["input"]["kind"] == "image"


def test_inputs_as_people_know_them() -> None:
    digit = np.zeros((28, 28), np.int8)
    digit[4:24, 13:15] = 127  # a "1"
    assert image_side(digit.tobytes(), (1, 1, 28, 28)) == (28, 28)
    assert image_side(digit.tobytes(), (1, 784)) is None  # a flat input is no picture when its shape says so
    assert image_side(bytes(100), None) == (10, 10)
    png = _decode(image_png(digit.tobytes(), (28, 28)))
    assert png.shape == (28, 28) and png[10, 13] == 255 and png[0, 0] == 0
    assert describe(b"what is 2+2?", None) == {"kind": "text", "text": "what is 2+2?", "bytes": 12}
    assert describe(bytes(range(200, 240)), None)["hex"].endswith("…")
    assert describe(bytes(64), None, "toy")["kind"] == "hex"  # a toy model's input is bytes, not a picture


@pytest.mark.parametrize("steps", [0, 1, 7, 12])
def test_the_decisive_instruction_is_read_back_from_a_step_witness(steps: int) -> None:
    state = load_elf(REPO_ROOT / "kernels" / "build" / "add.elf")  # run bare, it exits after 13 steps
    run(state, steps)
    witness = build_witness(state)
    pc, word, text = decisive_instruction(witness.state, witness.proof)
    assert pc == state.pc and word == state.memory.read_word(state.pc) and text == disassemble(word)
    assert decisive_instruction(b"\0" * 3, b"") is None  # not a VM witness


def test_a_halted_state_fetches_no_instruction() -> None:
    state = load_elf(REPO_ROOT / "kernels" / "build" / "add.elf")
    run(state, 100)
    assert not state.running
    witness = build_witness(state)
    assert decisive_instruction(witness.state, witness.proof) is None
