"""Running daemons as real processes (integration tests, demos): write a config, start `opml <role>` from this
interpreter, read its JSON log events, kill it (SIGKILL) and start it again.
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
        if not self.alive:
            return
        self.process.terminate()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=grace)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.kill()

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


class NodeNet:
    """A fresh devnet deployment on a running chain plus daemons on it, for one test.

    Accounts are Anvil's dev keys: 1 requester, 2 submitter, 3 challenger (as in `config/*.toml`)."""

    def __init__(self, w3: Any, rpc_url: str, workdir: Path, params: Any = None) -> None:
        from opml.chain.anvil import DEV_PRIVATE_KEYS

        from .devnet import DevnetParams, deploy_devnet

        self.w3 = w3
        self.rpc_url = rpc_url
        self.workdir = workdir
        self.keys = {"requester": DEV_PRIVATE_KEYS[1], "submitter": DEV_PRIVATE_KEYS[2],
                     "challenger": DEV_PRIVATE_KEYS[3]}
        self.deployment = deploy_devnet(w3, params or DevnetParams())
        self.addresses = workdir / "local.json"
        self.deployment.save(self.addresses)
        self.daemons: list[DaemonProcess] = []

    def daemon(self, role: str, name: str | None = None, **settings: Any) -> DaemonProcess:
        """Write a config for `role` (key of the same name unless `private_key` is given) and start it. No bus
        unless `broker_url` (or `embedded_broker = True`) is given: tests stay isolated from each other."""
        name = name or role
        values = {
            "node_name": name, "rpc_url": self.rpc_url, "private_key": self.keys.get(role),
            "deployment": str(self.addresses), "poll_interval_s": 0.2, "cache_dir": str(self.workdir / f"cache-{name}"),
            "log_format": "json", "embedded_broker": False, **settings,
        }
        config = write_config(self.workdir / f"{name}.toml", **values)
        process = DaemonProcess(role, config, self.workdir / f"{name}.log").start()
        self.daemons.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.daemons:
            process.stop()

    def warp(self, seconds: int) -> None:
        """Advance chain time and mine a block."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])
