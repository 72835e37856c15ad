"""Priority slots: at most `size` holders at once; when all are taken, waiters are let in by (priority, arrival),
the lowest priority number first. The responder orders transactions by urgency with them, the scheduler lets a
task that is carrying a request on (a finalization) go before one that has not started."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PrioritySlots:
    """At most `size` holders at once; waiters are let in by (priority, arrival)."""

    def __init__(self, size: int) -> None:
        self.free = size
        self.size = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def in_use(self) -> int:
        return self.size - self.free

    async def acquire(self, priority: int) -> None:
        """Wait for a slot; every `acquire` that returns must be matched by one `release`."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the slot to the most urgent waiter, or free it."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1

    @asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
