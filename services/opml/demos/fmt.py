"""How the demos print: amounts in ether, short hashes, indented lines, and the structured logs kept out of the
narrative (the story is the output)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from opml.chain.tx import ETHER


def eth(wei: int, spec: str = ".2f") -> str:
    """`wei` in ether, formatted with `spec` (e.g. '1.00 ETH')."""
    return f"{wei / ETHER:{spec}} ETH"


def short_hash(root: bytes) -> str:
    """The first 6 bytes of a hash, as 0x-hex with an ellipsis."""
    return "0x" + bytes(root).hex()[:12] + "…"


def indentable(print_line: Callable[[str], None]) -> Callable[..., None]:
    """`say(text, indent=2)` over a plain line printer."""

    def say(text: str = "", indent: int = 2) -> None:
        print_line(" " * indent + text)

    return say


@contextmanager
def narrative_only() -> Iterator[None]:
    """Structured logs below warnings are dropped, and so are web3's notes about logs of other events in a receipt;
    both settings are restored afterwards."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*MismatchedABI.*")
            yield
    finally:
        structlog.configure(**saved)
