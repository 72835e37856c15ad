"""Chain monitor: new heads, and the coordinator's and game's logs from a start block, `confirmations` blocks
behind the head. Every poll yields the head and the newly confirmed events, in chain order.

A restarted daemon scans again from the start block: the chain, not the daemon, remembers what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract

log = structlog.get_logger(__name__)

MAX_RANGE = 2_000  # blocks per eth_getLogs call


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log."""

    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    address: str


class EventDecoder:
    """Decodes the logs of a set of contracts by topic."""

    def __init__(self, contracts: list[Contract]) -> None:
        self._by_topic: dict[tuple[str, bytes], Any] = {}
        for contract in contracts:
            for item in contract.abi:
                if item.get("type") == "event":
                    event = getattr(contract.events, item["name"])()
                    self._by_topic[(contract.address, event_abi_to_log_topic(item))] = event

    def decode(self, raw: Any) -> ChainEvent | None:
        topics = raw.get("topics") or []
        if not topics:
            return None
        event = self._by_topic.get((Web3.to_checksum_address(raw["address"]), bytes(topics[0])))
        if event is None:
            return None
        decoded = event.process_log(raw)
        return ChainEvent(decoded["event"], dict(decoded["args"]), int(raw["blockNumber"]), int(raw["logIndex"]),
                          decoded["address"])


class Monitor:
    """Polls `w3` for heads and logs of `contracts`; `poll()` is one synchronous round."""

    def __init__(self, w3: Web3, contracts: list[Contract], start_block: int, confirmations: int = 0) -> None:
        self.w3 = w3
        self.addresses = [c.address for c in contracts]
        self.decoder = EventDecoder(contracts)
        self.next_block = start_block
        self.confirmations = confirmations
        self.head = -1

    def poll(self) -> tuple[int, list[ChainEvent]]:
        """(head, events of the blocks confirmed since the last poll)."""
        self.head = self.w3.eth.block_number
        last = self.head - self.confirmations
        events: list[ChainEvent] = []
        while self.next_block <= last:
            to_block = min(last, self.next_block + MAX_RANGE - 1)
            raw = self.w3.eth.get_logs({"address": self.addresses, "fromBlock": self.next_block,
                                        "toBlock": to_block})
            events.extend(e for e in map(self.decoder.decode, raw) if e is not None)
            self.next_block = to_block + 1
        events.sort(key=lambda e: (e.block, e.log_index))
        return self.head, events

    async def run(self, on_poll: Callable[[int, list[ChainEvent]], Awaitable[None]], interval_s: float,
                  wake: asyncio.Event | None = None) -> None:
        """Poll forever: every `interval_s`, or sooner when `wake` is set (a bus notification)."""
        while True:
            try:
                head, events = await asyncio.to_thread(self.poll)
            except Exception as exc:  # the node being down is an outage to ride out, not a crash
                log.warning("monitor_poll_failed", error=repr(exc))
            else:
                await on_poll(head, events)
            await _sleep_or_wake(interval_s, wake)


async def _sleep_or_wake(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    except TimeoutError:
        pass
    wake.clear()
