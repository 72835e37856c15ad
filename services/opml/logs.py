"""Structured logs for the node: console output for people, JSON lines for machines (and the tests).

    configure("json", "info")     # once, at daemon start-up
    log = structlog.get_logger(__name__).bind(node="challenger-1")
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure(fmt: str = "console", level: str = "info", stream: TextIO | None = None) -> None:
    """Route structlog events to `stream` (stdout) as `fmt` ('console' or 'json') at or above `level`."""
    if fmt not in ("console", "json"):
        raise ValueError(f"log format must be 'console' or 'json', got {fmt!r}")
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}, got {level!r}")
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _bytes_to_hex,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def _bytes_to_hex(_logger: object, _name: str, event: dict) -> dict:
    """Bytes values become 0x-hex so both renderers print them readably."""
    for key, value in event.items():
        if isinstance(value, (bytes, bytearray)):
            event[key] = "0x" + bytes(value).hex()
    return event
