"""Progress bars (rich) for long CLI work: model import and calibration, model commitment (the tile measurements,
the constants' commitments), trace building, `make bench`.

Library loops mark themselves with `track(items, what, total)`, which yields the items unchanged. A bar is drawn
only inside `bars()`, which the `opml` command line enters for its one-shot commands, and only when stderr is a
terminal: daemons (which never enter it) keep their structured logs, and tests and pipes see no bar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import IO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")

_current: ContextVar[Progress | None] = ContextVar("opml_progress", default=None)


@contextlib.contextmanager
def bars(stream: IO[str] | None = None, force: bool = False) -> Iterator[None]:
    """Draw the bars of every `track` inside the block on `stream` (stderr), if it is a terminal or `force`."""
    out = stream or sys.stderr
    if _current.get() is not None or not (force or out.isatty()):
        yield
        return
    console = Console(file=out, force_terminal=force or None, width=100 if force else None)
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=32), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    # stdout stays where it goes (a JSON answer piped to a file must not end up in the bar's stream)
    with Progress(*columns, console=console, transient=False, redirect_stdout=False, redirect_stderr=False) as progress:
        token = _current.set(progress)
        try:
            yield
        finally:
            _current.reset(token)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """`items`, one by one; inside `bars()` a bar advances with each (`total` defaults to `len(items)`)."""
    progress = _current.get()
    if progress is None:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    task = progress.add_task(description, total=total)
    try:
        for item in items:
            yield item
            progress.advance(task)
    finally:
        progress.stop_task(task)
