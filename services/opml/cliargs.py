"""Argument types shared by the `opml` subcommands (argparse turns their ArgumentTypeError into a usage error)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def integer(low: int, high: int | None = None, *, base: int = 10, below: str | None = None,
            above: str | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (high None: no upper bound), written in `base` (0: decimal or
    0x-hex). `below` says what a value under `low` is (default "is less than <low>"), `above` what a value over
    `high` is (default "is more than <high>")."""

    def parse(text: str) -> int:
        try:
            value = int(text, base)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} {below or f'is less than {low}'}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} {above or f'is more than {high}'}")
        return value

    return parse
