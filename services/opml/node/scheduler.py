"""Scheduler: one asyncio task per request or game, started once per key (dedup), retried with backoff when it
fails, and woken only by what concerns it: `wake(key)` when an event names its request or game, `wake_at(key, t)`
when the chain's clock passes a deadline it waits for, `tick()` for the keys that follow every head (games).

A finished task is not started again by `ensure`, but `rerun()` starts every finished task again: after a
reorganization each one re-derives from the chain what is left to do (a task's own "done" is never trusted).

At most `active` request/submission tasks work at once (game tasks always may): a task gives its turn back while
it waits in `news`. So under a backlog of thousands of requests the first ones are carried through to their
transaction instead of every task taking its first step before any takes its second. A task coming back from
`news` (e.g. to finalize once its window has passed) takes the next free turn before any task that has not
started yet, so a burst of new requests never starves the finalization of older ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

from .slots import PrioritySlots

log = structlog.get_logger(__name__)

Factory = Callable[[], Awaitable[None]]


class Scheduler:
    """Runs `factory()` for each key until it returns; keys that finished start again only through `rerun`."""

    def __init__(self, retry_s: float = 1.0, max_retry_s: float = 30.0,
                 on_failure: Callable[[str, BaseException], None] | None = None,
                 every_head: tuple[str, ...] = ("game-",), active: int = 16) -> None:
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.on_failure = on_failure
        self.every_head = every_head
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._factories: dict[str, Factory] = {}
        self._finished: set[str] = set()
        self._wakes: dict[str, asyncio.Event] = {}
        self._deadlines: dict[str, int] = {}
        self.active = active
        self._turns = PrioritySlots(active)
        self._holding: set[str] = set()
        self._worked: set[str] = set()  # keys that held a turn before: they go first

    @property
    def running(self) -> list[str]:
        return sorted(k for k, t in self._tasks.items() if not t.done())

    @property
    def backlog(self) -> int:
        """Tasks started and not finished."""
        return sum(1 for t in self._tasks.values() if not t.done())

    def finished(self, key: str) -> bool:
        return key in self._finished

    def ensure(self, key: str, factory: Factory) -> bool:
        """Start a task for `key` unless one runs or ran to completion; True when a task was started."""
        if key in self._finished or (key in self._tasks and not self._tasks[key].done()):
            return False
        self._factories[key] = factory
        self._tasks[key] = asyncio.create_task(self._run(key, factory), name=key)
        return True

    def rerun(self) -> int:
        """Start every finished task again and wake every waiting one (the chain reorganized); returns how many
        were started again."""
        again = sorted(self._finished)
        self._finished.clear()
        for key in again:
            self.ensure(key, self._factories[key])
        for key in list(self._wakes):
            self.wake(key)
        return len(again)

    async def _run(self, key: str, factory: Factory) -> None:
        delay = self.retry_s
        bound = log.bind(task=key)
        while True:
            try:
                await self._take_turn(key)
                try:
                    await factory()
                finally:
                    self._give_turn(key)
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
            self._worked.discard(key)
            self._wakes.pop(key, None)
            self._deadlines.pop(key, None)
            bound.debug("task_finished")
            return

    async def _take_turn(self, key: str) -> None:
        if not key.startswith(self.every_head) and key not in self._holding:
            await self._turns.acquire(0 if key in self._worked else 1)
            self._holding.add(key)
            self._worked.add(key)

    def _give_turn(self, key: str) -> None:
        if key in self._holding:
            self._holding.discard(key)
            self._turns.release()

    # -- waking ---------------------------------------------------------------------------------------------
    def wake(self, key: str) -> None:
        """Something on chain concerns `key`: its next (or current) `news` returns at once."""
        if key in self._tasks and not self._tasks[key].done():
            self._wakes.setdefault(key, asyncio.Event()).set()

    def wake_at(self, key: str, chain_time: int) -> None:
        """Wake `key` at the first head whose timestamp is at least `chain_time` (a window or clock it waits for)."""
        self._deadlines[key] = min(chain_time, self._deadlines.get(key, chain_time))

    def tick(self, chain_time: int | None = None) -> None:
        """A new head: wake the keys that follow every head (games, and waiters that are no task of this scheduler),
        and those whose deadline `chain_time` reached."""
        for key in list(self._wakes):
            if key.startswith(self.every_head) or key not in self._tasks:
                self._wakes[key].set()
        if chain_time is None:
            return
        for key, deadline in list(self._deadlines.items()):
            if deadline <= chain_time:
                del self._deadlines[key]
                self.wake(key)

    async def news(self, timeout: float, key: str | None = None) -> None:
        """Return when `key` is woken (or, without a key, at the next head), or after `timeout` seconds."""
        key = key or _current_key()
        event = self._wakes.setdefault(key, asyncio.Event())
        async with self.away(key):  # waiting is not working: another task may use the turn
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                pass
            event.clear()
            if key not in self._tasks:  # a waiter outside this scheduler: nothing else will wake or forget its key
                self._wakes.pop(key, None)

    @asynccontextmanager
    async def away(self, key: str | None = None) -> AsyncIterator[None]:
        """The current task (or `key`) gives its turn back for the block — it waits for something that is not
        work, e.g. its transaction being mined — and takes the next free turn after it, before any task that has
        not started. So the turns bound the work done at once, not the transactions waiting to be mined (the
        responder bounds those)."""
        key = key or _current_key()
        held = key in self._holding
        self._give_turn(key)
        yield  # a block that raises (a cancelled task) leaves without taking a turn again
        if held:
            await self._take_turn(key)

    async def close(self) -> None:
        """Cancel every running task and wait for them to end."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self) -> None:
        """Cancel every task and forget every key (the chain was replaced: nothing of the old one applies)."""
        await self.close()
        self._tasks.clear()
        self._factories.clear()
        self._finished.clear()
        self._wakes.clear()
        self._deadlines.clear()
        self._turns = PrioritySlots(self.active)
        self._holding.clear()
        self._worked.clear()


def _current_key() -> str:
    """The key of the task running now (its asyncio task name)."""
    task = asyncio.current_task()
    return task.get_name() if task is not None else "?"
