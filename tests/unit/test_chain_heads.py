"""TxSender's head watch: however many threads wait for receipts, one asks the node for the head per poll."""

from __future__ import annotations

import threading
import time

from opml.chain.tx import _Heads


def test_waiters_share_one_poller_and_all_see_the_new_head() -> None:
    head, reads = [5], [0]

    def read() -> int:
        reads[0] += 1
        return head[0]

    heads = _Heads(read, 0.01, time.sleep)
    seen: list[int] = []

    def wait() -> None:
        first = heads.after(-1, 1.0)
        seen.append(heads.after(first, 5.0))

    threads = [threading.Thread(target=wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    head[0] = 6
    for thread in threads:
        thread.join(5)
    assert seen == [6] * 8
    assert reads[0] < 0.3 / 0.01 * 2, f"{reads[0]} reads: each waiter polled on its own"


def test_an_unchanged_head_returns_after_the_timeout_and_a_failed_read_is_retried() -> None:
    answers = iter([ConnectionError("down"), 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7])

    def read() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    heads = _Heads(read, 0.01, time.sleep)
    assert heads.after(-1, 1.0) == 7
    started = time.monotonic()
    assert heads.after(7, 0.05) == 7
    assert 0.04 < time.monotonic() - started < 1.0
