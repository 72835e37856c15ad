"""A local MQTT broker (mosquitto) as a managed subprocess, for the devnet and the tests: started on a port
(a free one by default), polled until it accepts connections, stopped terminate → wait → kill.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from opml.chain.anvil import free_port
from opml.processes import stop_process

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(Exception):
    """mosquitto is missing or did not come up."""


def find_mosquitto() -> Path:
    """The mosquitto binary (PATH first, then the Debian location); BrokerError when absent."""
    found = shutil.which("mosquitto") or next((c for c in CANDIDATES if Path(c).is_file()), None)
    if found is None:
        raise BrokerError("mosquitto is not installed; run `make sysdeps` (Debian package mosquitto)")
    return Path(found)


class Mosquitto:
    """One mosquitto process listening on 127.0.0.1:`port` (anonymous clients allowed on loopback)."""

    def __init__(self, port: int | None = None, binary: Path | None = None) -> None:
        self.binary = binary or find_mosquitto()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0, detach: bool = False) -> Mosquitto:
        self.process = subprocess.Popen([str(self.binary), "-p", str(self.port)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=detach)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"mosquitto exited at start (code {self.process.returncode}); port {self.port} busy?")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto not accepting connections on port {self.port} after {timeout_s} s")

    def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, grace)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
