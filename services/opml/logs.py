"""Structured logs for the node: console output for people, JSON lines for machines (and the tests).

    configure("json", "info")     # once, at daemon start-up
    log = structlog.get_logger(__name__).bind(node="challenger-1")
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _CurrentStdout:
    """Writes to whatever `sys.stdout` is at the time of the write, not at configuration (a test runner swaps it
    per test and closes the old one)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure(fmt: str = "console", level: str = "info", stream: TextIO | None = None) -> None:
    """Route structlog events to `stream` (default: the `sys.stdout` of each write) as `fmt` ('console' or 'json')
    at or above `level`."""
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
        logger_factory=structlog.PrintLoggerFactory(stream or _CurrentStdout()),
        cache_logger_on_first_use=False,
    )
    warnings.showwarning = _warning_to_structlog  # library warnings become events too (JSON logs stay JSON)


def _warning_to_structlog(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                          file: TextIO | None = None, line: str | None = None) -> None:
    structlog.get_logger("py.warnings").warning("python_warning", category=category.__name__,
                                                message=str(message), where=f"{filename}:{lineno}")


def _bytes_to_hex(_logger: object, _name: str, event: dict) -> dict:
    """Bytes values become 0x-hex so both renderers print them readably."""
    for key, value in event.items():
        if isinstance(value, (bytes, bytearray)):
            event[key] = "0x" + bytes(value).hex()
    return event
