"""`opml explorer` as a child process of a demo: started on a port (8700 when free), asked for its status, stopped
terminate → wait → kill.

    explorer = ExplorerProcess(rpc_url, deployment_file, broker_url, log_path).start()
    explorer.url                       # http://127.0.0.1:8700/
    explorer.indexed(3, 1)             # its status once it shows 3 requests and 1 game
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from opml.chain.anvil import free_port
from opml.paths import REPO_ROOT
from opml.processes import stop_process

DEFAULT_PORT = 8700


class ExplorerProcess:
    """One explorer process over a deployment; its JSON logs go to `log_path`."""

    def __init__(self, rpc_url: str, deployment: Path, broker_url: str | None, log_path: Path) -> None:
        self.port = port_or_free(DEFAULT_PORT)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.command = [sys.executable, "-m", "opml.cli", "explorer", "--rpc-url", rpc_url, "--deployment",
                        str(deployment), "--port", str(self.port), "--model-dir", str(REPO_ROOT), "--log-format",
                        "json", *(["--broker", broker_url] if broker_url else [])]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ExplorerProcess:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def status(self) -> dict[str, Any] | None:
        """`/api/status`, or None while it does not answer."""
        try:
            with urllib.request.urlopen(self.url + "api/status", timeout=2) as reply:
                return json.loads(reply.read())
        except (OSError, ValueError):
            return None

    def indexed(self, requests: int, games: int, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """{"url", "requests", "games"} once the explorer shows at least `requests` requests and `games` games;
        None if it does not within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive:
            status = self.status()
            if status and status["requests"] >= requests and status["games"] >= games:
                return {"url": self.url, "requests": status["requests"], "games": status["games"]}
            time.sleep(0.2)
        return None

    def wait_until_interrupted(self) -> None:
        """Block until Ctrl-C (or until the explorer exits by itself)."""
        try:
            while self.alive:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10.0)


def port_or_free(port: int) -> int:
    """`port` when nothing listens on it on 127.0.0.1, else a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()
