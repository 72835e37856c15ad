"""A daemon as a real process (the network demo, the benchmarks, the tests): write a config, start `opml <role>`
from this interpreter, read its JSON log events, stop it (terminate → wait → kill) or kill it (SIGKILL) and start
it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opml.processes import stop_process

Event = dict[str, Any]


def write_config(path: Path, **values: Any) -> Path:
    """A TOML config file with `values` (str, int, float, bool, list of those)."""
    lines = [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


class DaemonProcess:
    """`python -m opml.cli <role> --config <config>`, logging JSON lines to `log_path` (appended across restarts)."""

    def __init__(self, role: str, config: Path, log_path: Path) -> None:
        self.role = role
        self.config = config
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> DaemonProcess:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "opml.cli", self.role, "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the daemon."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            self.process.wait()  # type: ignore[union-attr]

    def stop(self, grace: float = 5.0) -> None:
        """Terminate → wait → kill."""
        if self.process is not None:
            stop_process(self.process, grace)

    def events(self, name: str | None = None) -> list[Event]:
        """Every JSON event logged so far (all runs), optionally only those called `name`."""
        if not self.log_path.is_file():
            return []
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found

    def wait_for(self, name: str, where: Callable[[Event], bool] = lambda e: True, count: int = 1,
                 timeout: float = 60.0) -> list[Event]:
        """Block until `count` events called `name` matching `where` were logged; AssertionError on timeout or
        when the daemon died."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [e for e in self.events(name) if where(e)]
            if len(matching) >= count:
                return matching
            if not self.alive:
                raise AssertionError(f"{self.role} exited (code {self.process and self.process.returncode}) "
                                     f"before logging {name}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.role} did not log {count}× {name} in {timeout} s:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
