"""Chain monitor: new heads, and the coordinator's and game's logs from a start block, `confirmations` blocks
behind the head. Every poll yields the head and the newly confirmed events, in chain order, and says when the
chain reorganized (a head that went back, or a changed hash at a height already seen).

A restarted daemon scans again from the start block: the chain, not the daemon, remembers what happened.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from web3 import Web3
from web3.contract import Contract

from opml.chain import jsonrpc
from opml.chain.events import ChainEvent, EventDecoder

__all__ = ["ChainEvent", "EventDecoder", "Monitor", "Poll"]  # the events' types live in opml.chain.events

log = structlog.get_logger(__name__)

MAX_RANGE = 2_000  # blocks per eth_getLogs call


@dataclass(frozen=True)
class Poll:
    """One monitor round: the head (number, hash, timestamp), the events newly confirmed in chain order, and
    `fork`, the last block still canonical when the chain reorganized since the last round (else None)."""

    head: int
    head_hash: bytes
    time: int
    events: list[ChainEvent]
    fork: int | None = None

    def __iter__(self):  # noqa: ANN204 — `head, events = monitor.poll()`
        return iter((self.head, self.events))


class Monitor:
    """Polls `w3` for heads and logs of `contracts`; `poll()` is one synchronous round.

    It remembers the hashes of the recent blocks it saw (`keep` of them). A head below the last one, or a hash
    that changed at a height it saw, is a reorganization: it finds the highest remembered block still canonical
    (the fork point), forgets everything above it, and reads the logs again from the block after it."""

    def __init__(self, w3: Web3, contracts: list[Contract], start_block: int, confirmations: int = 0,
                 keep: int = 256) -> None:
        self.w3 = w3
        self.addresses = [c.address for c in contracts]
        self.decoder = EventDecoder(contracts)
        self.start_block = start_block
        self.next_block = start_block
        self.confirmations = confirmations
        self.keep = keep
        self.head = -1
        self.reorgs = 0
        self._hashes: dict[int, bytes] = {}
        self._witnessed: list[tuple[int, bytes]] = []  # blocks the daemon learned of outside a poll (receipts)
        self._witness_lock = threading.Lock()

    def witness(self, number: int, block_hash: bytes) -> None:
        """Remember a block the daemon acted on without a poll (the block of its own transaction's receipt): a
        reorganization that replaces it is one, even when every block it replaced is above the last head polled.
        Thread-safe; checked at the next poll."""
        with self._witness_lock:
            self._witnessed.append((int(number), bytes(block_hash)))

    def poll(self) -> Poll:
        """The head and the events of the blocks confirmed since the last poll (after a reorg: since the fork)."""
        with self._witness_lock:  # taken before the head is read: each of them is at or below that head
            witnessed, self._witnessed = self._witnessed, []
        latest = self._block("latest")
        number, block_hash = int(latest["number"]), bytes(latest["hash"])
        previous = max(self._hashes, default=None)  # the last head polled
        fork = self._fork_point(number, block_hash, bytes(latest["parentHash"]))
        if fork is not None:
            self._rewind(fork, number, previous)
        last = number - self.confirmations
        events, logged = self._read_logs(last)
        if fork is None:  # the polled blocks first: a witnessed block on a new branch must not hide a reorg below it
            fork = self._witnessed_fork(number, block_hash, witnessed, logged)
            if fork is not None:  # the logs above the fork may be of the branch that left: read them again
                self._rewind(fork, number, previous)
                events = [e for e in events if e.block <= fork] + self._read_logs(last)[0]
        self._remember(number, block_hash)
        if number > 0:
            self._hashes.setdefault(number - 1, bytes(latest["parentHash"]))
        self.head = number
        while len(self._hashes) > self.keep:
            del self._hashes[min(self._hashes)]
        events.sort(key=lambda e: (e.block, e.log_index))
        return Poll(number, block_hash, int(latest["timestamp"]), events, fork)

    def _read_logs(self, last: int) -> tuple[list[ChainEvent], dict[int, bytes]]:
        """The events of blocks `next_block`..`last` (and `next_block` moved past them), with the hash of every
        block that held a log, by height."""
        events: list[ChainEvent] = []
        logged: dict[int, bytes] = {}
        while self.next_block <= last:
            to_block = min(last, self.next_block + MAX_RANGE - 1)
            raw = self._logs(self.next_block, to_block)
            events.extend(e for e in map(self.decoder.decode, raw) if e is not None)
            for entry in raw:  # the blocks that held events are remembered too: a reorg finds its fork closer
                if entry.get("blockHash") is not None:
                    logged[int(entry["blockNumber"])] = bytes(entry["blockHash"])
                    self._hashes.setdefault(int(entry["blockNumber"]), bytes(entry["blockHash"]))
            self.next_block = to_block + 1
        return events, logged

    def rescan(self) -> None:
        """Read every log again from the start block at the next poll (the daemon re-derives everything)."""
        self.next_block = self.start_block

    # -- reorganizations ----------------------------------------------------------------------------------------
    def _fork_point(self, number: int, block_hash: bytes, parent_hash: bytes) -> int | None:
        """None while the chain only grew on top of what was seen; else the highest seen block still canonical."""
        if not self._hashes:
            return None
        previous = max(self._hashes)
        if number == previous and self._hashes[previous] == block_hash:
            return None
        if number == previous + 1 and self._hashes[previous] == parent_hash:
            return None
        if number > previous + 1 and self._canonical_hash(previous) == self._hashes[previous]:
            return None
        for height in sorted(self._hashes, reverse=True):
            if height <= number and self._canonical_hash(height) == self._hashes[height]:
                return height
        return self.start_block - 1  # nothing seen is left: read everything again

    def _witnessed_fork(self, number: int, head_hash: bytes, witnessed: list[tuple[int, bytes]],
                        logged: dict[int, bytes]) -> int | None:
        """None while every block witnessed since the last poll is still canonical (they are remembered from then
        on); else the fork point below the lowest witnessed block that left the chain. A witnessed block is
        compared with the head (`number`, `head_hash`) or with the block hash of the logs just read at its height
        (`logged`: a node's own transactions emit events) before the chain is asked for it."""
        def canonical(height: int, seen: bytes) -> bool:
            if height >= number:
                return height == number and seen == head_hash
            if height in logged:
                return logged[height] == seen
            return self._canonical_hash(height) == seen

        gone = [height for height, seen in witnessed if not canonical(height, seen)]
        if not gone:
            for height, seen in witnessed:
                if height >= self.start_block - 1:
                    self._hashes[height] = seen
            return None
        lowest = min(gone)
        for height in sorted(self._hashes, reverse=True):
            if height < lowest and self._canonical_hash(height) == self._hashes[height]:
                return height
        return self.start_block - 1

    def _canonical_hash(self, height: int) -> bytes | None:
        block = self._block(height)
        return None if block is None else bytes(block["hash"])

    # -- chain reads (raw JSON-RPC: a poll runs several a second under load) ------------------------------------
    def _block(self, block: int | str) -> Any:
        """The block header's `number`, `hash`, `parentHash` and `timestamp` (ints and bytes); None when the chain
        has no such block."""
        tag = block if isinstance(block, str) else hex(block)
        return jsonrpc.ask(self.w3, "eth_getBlockByNumber", [tag, False], lambda: self.w3.eth.get_block(block),
                           _header)

    def _logs(self, from_block: int, to_block: int) -> list[Any]:
        """The watched contracts' logs of blocks `from_block`..`to_block`, as web3's `get_logs` gives them."""
        query = {"address": self.addresses, "fromBlock": from_block, "toBlock": to_block}
        return jsonrpc.ask(self.w3, "eth_getLogs", [{**query, "fromBlock": hex(from_block), "toBlock": hex(to_block)}],
                           lambda: self.w3.eth.get_logs(query), lambda raw: [jsonrpc.format_log(e) for e in raw])

    def _rewind(self, fork: int, number: int, previous: int | None) -> None:
        previous = fork if previous is None else previous
        self.reorgs += 1
        log.warning("chain_reorg", previous_head=previous, head=number, fork=fork,
                    head_went_back=number < previous, depth=previous - fork)
        self._hashes = {h: v for h, v in self._hashes.items() if h <= fork}
        self.next_block = max(self.start_block, min(self.next_block, fork + 1))

    def _remember(self, number: int, block_hash: bytes) -> None:
        self._hashes[number] = block_hash
        while len(self._hashes) > self.keep:
            del self._hashes[min(self._hashes)]

    async def run(self, on_poll: Callable[[Poll], Awaitable[None]], interval_s: float,
                  wake: asyncio.Event | None = None,
                  on_error: Callable[[BaseException], None] | None = None) -> None:
        """Poll forever: every `interval_s`, or sooner when `wake` is set (a bus notification)."""
        while True:
            try:
                result = await asyncio.to_thread(self.poll)
            except Exception as exc:  # the node being down is an outage to ride out, not a crash
                log.warning("monitor_poll_failed", error=repr(exc))
                if on_error is not None:
                    on_error(exc)
            else:
                await on_poll(result)
            await _sleep_or_wake(interval_s, wake)


def _header(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    return {"number": int(raw["number"], 16), "hash": bytes.fromhex(raw["hash"][2:]),
            "parentHash": bytes.fromhex(raw["parentHash"][2:]), "timestamp": int(raw["timestamp"], 16)}


async def _sleep_or_wake(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    except TimeoutError:
        pass
    wake.clear()
