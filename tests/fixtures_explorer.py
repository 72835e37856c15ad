"""The explorer as a real process (`opml explorer` on a free port) and a real headless Chromium to look at it.

    with ExplorerProcess(rpc_url, deployment_file, workdir) as explorer:
        status, body = explorer.get("/api/requests")
    with headless_chromium() as browser:
        browser.get(explorer.url + "/games/1")

Screenshots go to `ARTIFACTS` (.cache/artifacts/, ignored by git).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from opml.chain.anvil import free_port
from opml.paths import REPO_ROOT
from opml.processes import stop_process

ARTIFACTS = REPO_ROOT / ".cache" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class ExplorerProcess:
    """`python -m opml.cli explorer` on a free port, JSON logs in `workdir/explorer.log`; stopped terminate → wait →
    kill."""

    def __init__(self, rpc_url: str, deployment: Path, workdir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "explorer.log"
        self.command = [sys.executable, "-m", "opml.cli", "explorer", "--rpc-url", rpc_url, "--deployment",
                        str(deployment), "--port", str(self.port), "--poll", "0.2", "--log-format", "json", *extra]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ExplorerProcess:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_until(lambda: self.get("/api/status")[0] == 200, 90, "the explorer did not answer")
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10)

    def get(self, path: str) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body) of a GET; (0, None) while nothing listens."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    def wait_until(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process is not None and self.process.poll() is None, f"the explorer exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"{what} within {timeout} s:\n{self.tail()}"
            time.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in (self.log_path.read_text(errors="replace") if self.log_path.is_file() else "").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == name:
                    found.append(event)
        return found


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 1500) -> Iterator[Any]:
    """Debian's chromium driven by its chromium-driver through selenium (`make sysdeps` installs both)."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("chromium and chromium-driver are not installed: run `make sysdeps` (Debian packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def screenshot(browser: Any, name: str) -> Path:
    """Save the whole page as ARTIFACTS/name and print where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(900, min(int(height) + 40, 4000)))
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
