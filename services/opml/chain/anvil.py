"""Anvil devnet as a managed subprocess: started on a free local port, polled until it answers, stopped
terminate → wait → kill.

    with Anvil() as node:
        w3 = node.web3()
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import structlog
from web3 import Web3

from opml.paths import REPO_ROOT
from opml.processes import stop_process

log = structlog.get_logger(__name__)

ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
CHAIN_ID = 31337

# Anvil's well-known development accounts (mnemonic "test test … junk"); public, never for real funds.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
)


class AnvilError(Exception):
    """Anvil could not be started (binary missing, process exited, not ready in time)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    """One raw JSON-RPC request (no retries); returns `result` or raises on an error response."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise AnvilError(f"{method} failed: {reply['error']}")
    return reply["result"]


NO_DISK_STATES = ("--max-persisted-states", "0")
"""Anvil writes every state that leaves its in-memory window to disk and keeps them until a clean exit: a few
hundred blocks of a busy chain take gigabytes, and a killed Anvil leaves them behind. The nodes need no state that
old (their historical calls are at most a few blocks back), so none is kept on disk."""


class Anvil:
    """One Anvil process. `start()` returns once `eth_chainId` answers; `stop()` is idempotent."""

    def __init__(
        self,
        binary: Path = ANVIL_BINARY,
        *,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 15.0,
        start_attempts: int = 3,
    ) -> None:
        self.binary = Path(binary)
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.start_attempts = start_attempts
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise AnvilError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, port: int | None = None) -> Anvil:
        """Start on a free port (another port is tried if the chosen one was taken meanwhile), or on `port`."""
        if self.running:
            return self
        if not self.binary.is_file():
            raise AnvilError(f"anvil binary not found at {self.binary}; run `make bootstrap` (npm ci) first")
        if port is not None:
            self._start_once(port)
            return self
        last_error: AnvilError | None = None
        for _ in range(self.start_attempts):
            try:
                self._start_once(free_port())
                return self
            except AnvilError as exc:
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def restart(self) -> Anvil:
        """Stop and start again on the same port: a new chain (no blocks, no state) at the same URL."""
        port = self.port
        self.stop()
        if port is None:
            return self.start()
        self._start_once(port)
        return self

    def _start_once(self, port: int) -> None:
        self.port = port
        self._log = tempfile.TemporaryFile()
        command = [str(self.binary), "--host", "127.0.0.1", "--port", str(port), "--silent", *NO_DISK_STATES,
                   *self.extra_args]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        self._wait_ready()
        log.info("anvil_started", port=port, pid=self._process.pid)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AnvilError(f"anvil exited during startup (code {self._process.returncode}): {self._output()}")
            try:
                chain_id = int(str(rpc_call(self.url, "eth_chainId", timeout=0.5)), 16)
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.02)
                continue
            if chain_id != CHAIN_ID:
                raise AnvilError(f"unexpected chain id {chain_id} on port {self.port}")
            return
        raise AnvilError(f"anvil not ready after {self.startup_timeout} s: {self._output()}")

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace").strip()

    def stop(self, grace: float = 5.0) -> None:
        """Terminate, wait up to `grace` seconds, then kill."""
        process, self._process = self._process, None
        if process is not None and stop_process(process, grace):
            log.info("anvil_stopped", port=self.port)
        if self._log is not None:
            self._log.close()
            self._log = None

    def web3(self, timeout: float = 30.0) -> Web3:
        """A Web3 client for this node."""
        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": timeout}))

    def rpc(self, method: str, params: list | None = None) -> object:
        return rpc_call(self.url, method, params)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def evm_snapshot(w3: Web3) -> Iterator[str]:
    """Chain changes made inside the block are undone after it (`evm_snapshot` before,
    `evm_revert` after; Anvil and other dev nodes)."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield snapshot
    finally:
        if not w3.provider.make_request("evm_revert", [snapshot]).get("result"):
            raise AnvilError(f"evm_revert({snapshot}) failed")
