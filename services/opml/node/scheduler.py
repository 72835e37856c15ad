"""Scheduler: one asyncio task per request or game, started once per key (dedup), retried with backoff when it
fails, and woken on every new head (`tick`) so it re-reads the chain instead of waiting out its timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Scheduler:
    """Runs `factory()` for each key until it returns; keys that finished are never started again."""

    def __init__(self, retry_s: float = 1.0, max_retry_s: float = 30.0,
                 on_failure: Callable[[str, BaseException], None] | None = None) -> None:
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.on_failure = on_failure
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()
        self._news = asyncio.Event()

    @property
    def running(self) -> list[str]:
        return sorted(k for k, t in self._tasks.items() if not t.done())

    def finished(self, key: str) -> bool:
        return key in self._finished

    def ensure(self, key: str, factory: Callable[[], Awaitable[None]]) -> bool:
        """Start a task for `key` unless one runs or ran to completion; True when a task was started."""
        if key in self._finished or (key in self._tasks and not self._tasks[key].done()):
            return False
        self._tasks[key] = asyncio.create_task(self._run(key, factory), name=key)
        return True

    async def _run(self, key: str, factory: Callable[[], Awaitable[None]]) -> None:
        delay = self.retry_s
        bound = log.bind(task=key)
        while True:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                bound.warning("task_failed", error=repr(exc), retry_in_s=delay)
                if self.on_failure is not None:
                    self.on_failure(key, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            self._finished.add(key)
            bound.debug("task_finished")
            return

    def tick(self) -> None:
        """Wake every task waiting in `news` (a new head or a bus notification arrived)."""
        self._news.set()
        self._news = asyncio.Event()

    async def news(self, timeout: float) -> None:
        """Return at the next `tick`, or after `timeout` seconds."""
        event = self._news
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Cancel every running task and wait for them to end."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
