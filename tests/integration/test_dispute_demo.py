"""`opml dispute-demo`: one MNIST CNN dispute on its own fresh Anvil, summarized; the honest side wins."""

from __future__ import annotations

import re

import pytest

from opml.cli import main


@pytest.mark.parametrize("fault, liar, decided", [
    ("vm", "submitter", "by one MIPS step executed on chain"),
    ("link-tile", "challenger", "on time"),
])
def test_dispute_demo_summary_says_the_honest_side_won(contracts_built, capsys, fault, liar, decided) -> None:
    assert main(["dispute-demo", "--fault", fault, "--liar", liar, "--seed", "11"]) == 0
    out = capsys.readouterr().out
    honest = "challenger" if liar == "submitter" else "submitter"
    assert f"winner: the {honest} (honest), {decided}" in out, out
    txs, gas = re.search(r"(\d+) transactions, ([\d,]+) gas, [\d.]+ s wall", out).groups()
    assert 1 <= int(txs) <= 30 and int(gas.replace(",", "")) > 0, out
    assert "disputed node: " in out and "Anvil stopped" in out, out
    if fault == "vm":
        assert re.search(r"disputed VM step: \d+ → \d+ of 2\^\d+", out), out
        assert re.search(r"decisive instruction: pc 0x[0-9a-f]{8}: `[a-z]", out), out


def test_dispute_demo_rejects_an_unknown_fault_class(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["dispute-demo", "--fault", "everywhere"])
    assert "invalid choice" in capsys.readouterr().err
