"""The explorer end to end, in a real headless Chromium: an MNIST CNN dispute played move by move on Anvil while
`opml explorer` follows the chain. The request shows its digit; the game page appears, its bisection picture gains
one disputed interval per opened level and per pick, each narrower than the last within its level, exactly as the
chain's events say; the game ends showing the challenger as winner, the decisive MIPS instruction the honest
party's own trace names, and the payouts the Coordinator made (the winner's share of the slashed bond; the rest burned).
Screenshots of the game and home pages are written to .cache/artifacts/ (the path is printed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_explorer import ExplorerProcess, headless_chromium, screenshot
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.build import ensure_built
from opml.paths import REPO_ROOT
from opml.chain.tx import TxSender
from opml.game.settlement import slash_burned, slash_share
from opml.game.solver import next_action
from opml.game.types import PickSegment, Role, Wait
from opml.levels.commitments import ModelCommitment
from opml.levels.faults import WrongOutput
from opml.levels.lies import LyingRequestLevel
from opml.levels.request_level import RequestLevel
from opml.stacks.ml import MlStackConfig, deploy_ml_stack
from opml.levels.tiling import plan_model
from opml.ml.accuracy import as_float_input
from opml.ml.scales import QuantizedModel
from opml.node.deployment import Deployment, ModelSpec
from opml.vm.isa import disassemble

MODEL = "models/mnist_cnn.opml"
LIE = WrongOutput(8, 3, vm_step=100)  # the last node (Requantize → logits), logit 3, from VM step 100 on
CONFIG = MlStackConfig(checkpoint_count=3)  # N = 3: several rounds per level, so the narrowing is visible
ETHER = 10**18


def _rects(browser: Any) -> list[dict[str, int]]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#picture svg rect.disputed')].map(r => ({level: +r.dataset.level,"
        " round: +r.dataset.round, lo: +r.dataset.lo, hi: +r.dataset.hi}))")


def _text(browser: Any, selector: str) -> str:
    """The rendered text of the first element matching `selector` ("" while there is none), read in one script:
    the page re-renders on every update, so element handles go stale."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                                  selector)


def _wait(condition: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"the page did not show {what} within {timeout} s"
        time.sleep(0.1)


def _expected_rounds(stack: Any, game_id: int) -> list[dict[str, int]]:
    """The disputed intervals the chain's events define: per LevelOpened the whole level, per Picked the pick."""
    game = stack.bindings.game.contract
    opened = game.events.LevelOpened.get_logs(from_block=0, argument_filters={"gameId": game_id})
    picked = game.events.Picked.get_logs(from_block=0, argument_filters={"gameId": game_id})
    logs = sorted([*opened, *picked], key=lambda e: (e["blockNumber"], e["logIndex"]))
    rounds: list[dict[str, int]] = []
    for log in logs:
        a = log["args"]
        if log["event"] == "LevelOpened":
            rounds.append({"level": a["level"], "round": 0, "lo": 0, "hi": a["subLength"]})
        else:
            rounds.append({"level": a["level"], "round": rounds[-1]["round"] + 1, "lo": a["lo"], "hi": a["hi"]})
    return rounds


def test_a_dispute_seen_in_the_browser(tmp_path: Path) -> None:
    ensure_built()
    quantized = QuantizedModel.load(REPO_ROOT / MODEL)
    commitment = ModelCommitment(quantized.model, plan_model(quantized.model))
    with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
        digit = quantized.quantize_input(as_float_input(data["test_x"][437]))
    honest, liar = RequestLevel(commitment, digit), LyingRequestLevel(commitment, digit, frozenset({LIE}))

    with Anvil() as node:
        w3 = node.web3()
        start = w3.eth.block_number + 1
        stack = deploy_ml_stack(w3, CONFIG)
        model_id = stack.register(commitment)
        deployment = Deployment(network="explorer-test", chain_id=w3.eth.chain_id, start_block=start,
                                coordinator=stack.bindings.coordinator.address, game=stack.bindings.game.address,
                                registry=stack.registry.address, models={model_id: ModelSpec(kind="ml",
                                                                                             model_file=MODEL)})
        deployment.save(tmp_path / "deployment.json")
        errors = stack.bindings.errors()
        requester, submitter, challenger = (TxSender(w3, DEV_PRIVATE_KEYS[i], errors) for i in (1, 2, 3))
        c = stack.bindings.coordinator

        with ExplorerProcess(node.url, tmp_path / "deployment.json", tmp_path) as explorer, \
                headless_chromium() as browser:
            mined = requester.send(c.request(model_id, digit.tobytes()), value=CONFIG.model_fee)
            request_id = c.events("RequestCreated", mined.receipt)[0]["requestId"]
            submitter.send(c.submit(request_id, *liar.submission()), value=CONFIG.submitter_bond)
            challenged = challenger.send(c.challenge(request_id), value=CONFIG.challenger_bond)
            game_id = c.events("Challenged", challenged.receipt)[0]["gameId"]

            # the home page: the request with its digit, the game listed
            browser.get(explorer.url + "/")
            _wait(lambda: browser.execute_script(f"return !!document.querySelector('tr[data-game=\"{game_id}\"]')"),
                  "the game in the games table")
            image = browser.execute_script(
                f"const i = document.querySelector('tr[data-request=\"{request_id}\"] img.digit');"
                " return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null")
            assert image == [28, 28], f"the request's input is not shown as a 28×28 image: {image}"
            assert "challenged" in _text(browser, f'tr[data-request="{request_id}"]')

            # the game page, move by move: the picture follows the chain
            browser.get(f"{explorer.url}/games/{game_id}")
            _wait(lambda: browser.execute_script("return !!document.querySelector('#picture svg')"), "the picture")
            parties = {Role.SUBMITTER: (submitter, liar), Role.CHALLENGER: (challenger, honest)}
            shown: list[dict[str, int]] = []
            picks = 0
            live_shot = None
            now = lambda: int(w3.eth.get_block("latest")["timestamp"])  # noqa: E731
            for _ in range(200):
                view = stack.bindings.read_game(game_id)
                if view.phase.is_over:
                    break
                moved = False
                for role, (sender, provider) in parties.items():
                    action = next_action(view, role, provider, now())
                    if isinstance(action, Wait):
                        continue
                    sender.send(stack.bindings.call_for(action), label=type(action).__name__)
                    moved, picks = True, picks + isinstance(action, PickSegment)
                    break
                assert moved, f"neither party could move in {view}"
                expected = _expected_rounds(stack, game_id)
                shown = _wait(lambda: (r := _rects(browser)) == expected and r, f"the {len(expected)} intervals")
                if [r["level"] for r in shown].count(2) == 2 and not live_shot:  # mid-game, in the VM level
                    assert browser.execute_script("return document.querySelectorAll('.clock.running').length") == 1
                    live_shot = screenshot(browser, "explorer_game_live.png")
            else:
                pytest.fail("the game did not end in 200 moves")

            assert live_shot is not None
            assert picks >= 6, f"only {picks} rounds were played: the picture had little to narrow"
            for before, after in zip(shown, shown[1:]):
                if after["level"] == before["level"]:
                    assert before["lo"] <= after["lo"] < after["hi"] <= before["hi"], (before, after)
                    assert after["hi"] - after["lo"] < before["hi"] - before["lo"], (before, after)
            assert [r["level"] for r in shown if r["round"] == 0] == [0, 1, 2]
            assert shown[-1]["hi"] - shown[-1]["lo"] == 1  # one VM step left

            # the end: the winner, the decisive instruction, the payouts
            final = stack.bindings.read_game(game_id)
            _, node_index, tile = final.openings
            pre = honest.graph.tile_level(node_index).vm_level(tile).state_at(final.lo)
            instruction = disassemble(pre.memory.read_word(pre.pc))
            verdict = _wait(lambda: browser.execute_script(
                "const v = document.getElementById('verdict'); return v && v.textContent"), "the verdict")
            assert verdict == "the challenger wins by the step"
            _wait(lambda: _text(browser, "#instruction") == instruction, f"the decisive instruction {instruction}")
            assert "Requantize" in _text(browser, "#opened-op")
            assert "wrong" in _text(browser, "#step-verdict")
            assert "winner" in _text(browser, "#challenger").lower()
            payouts = _wait(lambda: browser.execute_script(
                "const p = document.getElementById('payouts'); return p && p.innerText"), "the payouts")
            gain = slash_share(CONFIG.submitter_bond, 1)  # one challenger: the whole reward share
            burned = slash_burned(CONFIG.submitter_bond, 1)
            assert Web3.to_checksum_address(challenger.address) in payouts
            assert f"+{gain / ETHER:g} ETH" in payouts, payouts
            assert f"−{CONFIG.submitter_bond / ETHER:g} ETH" in payouts, payouts
            assert f"{burned / ETHER:g} ETH" in payouts, payouts
            status, api = explorer.get(f"/api/games/{game_id}")
            assert status == 200 and api["payouts"]["winner_gain_wei"] == str(gain)
            assert api["step"]["instruction"] == instruction
            screenshot(browser, "explorer_game.png")

            browser.get(explorer.url + "/")
            _wait(lambda: browser.execute_script("return !!document.querySelector('#money')"), "the money table")
            money = _text(browser, "#money")
            assert f"{gain / ETHER:g} ETH" in money
            screenshot(browser, "explorer_home.png")

            browser.get(f"{explorer.url}/requests/{request_id}")
            _wait(lambda: browser.execute_script("return !!document.querySelector('img.digit.large')"), "the digit")
            page = _text(browser, "#main")
            assert "slashed" in page and f"game #{game_id}" in page, page
