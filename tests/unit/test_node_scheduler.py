"""The scheduler: one task per key, finished keys never restart, failures retry, ticks wake waiters."""

from __future__ import annotations

import asyncio
import urllib.request

from opml.chain.anvil import free_port
from opml.node.metrics import Metrics
from opml.node.scheduler import Scheduler


async def test_one_task_per_key_and_finished_keys_stay_finished() -> None:
    scheduler = Scheduler()
    runs: list[str] = []
    gate = asyncio.Event()

    async def job() -> None:
        runs.append("run")
        await gate.wait()

    assert scheduler.ensure("game-1", job)
    assert not scheduler.ensure("game-1", job)  # already running
    await asyncio.sleep(0)
    assert scheduler.running == ["game-1"]
    gate.set()
    await asyncio.sleep(0.01)
    assert scheduler.finished("game-1") and not scheduler.ensure("game-1", job)
    assert runs == ["run"]


async def test_failed_task_is_retried_with_backoff() -> None:
    failures: list[str] = []
    scheduler = Scheduler(retry_s=0.01, on_failure=lambda key, exc: failures.append(f"{key}:{exc}"))
    attempts = 0

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("rpc down")

    scheduler.ensure("request-4", flaky)
    deadline = asyncio.get_running_loop().time() + 10.0  # generous: a loaded machine may starve the loop
    while not scheduler.finished("request-4") and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert attempts == 3 and failures == ["request-4:rpc down", "request-4:rpc down"]


async def test_tick_wakes_waiters_before_their_timeout() -> None:
    scheduler = Scheduler()
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiter = asyncio.create_task(scheduler.news(timeout=5.0))
    await asyncio.sleep(0.01)
    scheduler.tick()
    await waiter
    assert loop.time() - started < 1.0
    await scheduler.news(timeout=0.01)  # no tick: returns after the timeout


async def test_close_cancels_running_tasks() -> None:
    scheduler = Scheduler()
    scheduler.ensure("game-1", lambda: asyncio.sleep(60))
    await asyncio.sleep(0)
    await scheduler.close()
    assert scheduler.running == []


async def test_a_task_away_gives_its_turn_to_the_next_and_comes_back_first() -> None:
    scheduler = Scheduler(active=1)
    order: list[str] = []
    mined, second_started = asyncio.Event(), asyncio.Event()

    async def sender() -> None:
        order.append("send")
        async with scheduler.away():  # its transaction is being mined
            await mined.wait()
        order.append("mined")

    async def other(name: str) -> None:
        order.append(name)
        second_started.set()
        await asyncio.sleep(0.05)  # working: holds the only turn
        order.append(f"{name} done")

    scheduler.ensure("request-1", sender)
    await asyncio.sleep(0.01)
    scheduler.ensure("request-2", lambda: other("b"))
    scheduler.ensure("request-3", lambda: other("c"))
    await asyncio.wait_for(second_started.wait(), 5)  # one turn, but the sender is away: b runs
    mined.set()
    deadline = asyncio.get_running_loop().time() + 10.0
    while len(order) < 6 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    # b had the turn while the sender was away; back, the sender goes before c, which had not started
    assert order == ["send", "b", "b done", "mined", "c", "c done"]


def test_metrics_are_scraped_over_http() -> None:
    metrics = Metrics("challenger")
    metrics.moves.labels("PickSegment").inc(3)
    metrics.games_in_flight.set(2)
    metrics.inference.observe(0.25)
    port = free_port()
    metrics.serve(port, addr="127.0.0.1")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'opml_moves_total{action="PickSegment"} 3.0' in body
    assert "opml_games_in_flight 2.0" in body
    assert "opml_inference_seconds_count 1.0" in body
