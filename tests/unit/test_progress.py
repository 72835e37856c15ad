"""Progress bars: `track` yields its items unchanged; a bar is drawn only inside `bars()` (forced here, as on a
terminal), never outside it (a daemon, a test, a pipe)."""

from __future__ import annotations

import io

from opml.progress import bars, track


def test_track_without_bars_yields_the_items_and_draws_nothing(capsys) -> None:  # noqa: ANN001
    assert list(track(iter(range(5)), "counting", total=5)) == [0, 1, 2, 3, 4]
    with bars():  # stderr is captured, not a terminal: no bar
        assert list(track([1, 2], "pairs")) == [1, 2]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_bar_counts_the_items_on_a_terminal() -> None:
    out = io.StringIO()
    with bars(out, force=True):
        assert sum(track(range(7), "measuring tiles")) == 21
        assert list(track((x for x in "ab"), "generator", total=2)) == ["a", "b"]
    text = out.getvalue()
    assert "measuring tiles" in text and "7/7" in text
    assert "generator" in text and "2/2" in text
