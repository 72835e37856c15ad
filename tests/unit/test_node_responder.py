"""The responder's journal: a move is never sent twice for the same chain state, across restarts.

A fake sender stands in for the chain: it counts the nonces used (`latest`) and queued (`pending`)."""

from __future__ import annotations

import asyncio

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from web3.exceptions import TransactionNotFound

from opml.chain.tx import ContractRevert, ErrorDecoder, TxError
from opml.node.cache import CacheError, ClaimCache, Intent, Journal
from opml.node.responder import MAX_ATTEMPTS, PrioritySlots, Responder


@dataclass
class FakeSender:
    """A one-account chain: blocks by height (each one transaction), receipts, and nonce counts."""

    latest: int = 0
    pending: int = 0
    sent: list[str] = field(default_factory=list)
    fail_with: Exception | None = None
    address: str = "0x0000000000000000000000000000000000000001"
    errors: ErrorDecoder = field(default_factory=ErrorDecoder)
    receipts: dict[bytes, dict] = field(default_factory=dict)
    blocks: dict[int, bytes] = field(default_factory=dict)
    pool: dict[bytes, int] = field(default_factory=dict)  # unmined transactions of the node's pool: hash -> nonce
    fillers: int = 0

    def __post_init__(self) -> None:
        counts = {"latest": lambda: self.latest, "pending": lambda: self.pending}
        self.w3 = SimpleNamespace(eth=SimpleNamespace(
            get_transaction_count=lambda _a, block: counts[block](), get_transaction_receipt=self._receipt,
            get_transaction=self._pooled, get_block=lambda n: {"hash": self.blocks[n]} if n in self.blocks else None,
            block_number=0))

    def _receipt(self, tx_hash: bytes) -> dict:
        if tx_hash not in self.receipts:
            raise TransactionNotFound("unknown")
        return self.receipts[tx_hash]

    def _pooled(self, tx_hash: bytes) -> dict:
        if tx_hash not in self.pool:
            raise TransactionNotFound("unknown")
        return {"nonce": self.pool[tx_hash]}

    def resync_nonce(self) -> int:
        return self.pending

    def forget_nonce(self) -> None:
        pass

    def fill_nonce_gap(self, below: int) -> int:
        """Fillers at the free nonces under `below`: the pooled transaction at `below` becomes ready."""
        count = max(0, below - self.pending)
        self.fillers += count
        self.pending = max(self.pending, below + 1)
        return count

    def send(self, call: SimpleNamespace, *, value: int = 0, label: str = "",
             before_broadcast: Any = None) -> SimpleNamespace:
        if isinstance(self.fail_with, ContractRevert) and self.fail_with.tx_hash is None:
            raise self.fail_with  # the estimate reverted: nothing signed, nothing journaled
        tx_hash = bytes([len(self.receipts) + 1]) * 32
        if before_broadcast is not None:
            before_broadcast(self.pending, tx_hash)
        if isinstance(self.fail_with, TxError) and not isinstance(self.fail_with, ContractRevert):
            raise self.fail_with
        height = len(self.blocks) + 1
        self.blocks[height] = bytes([0xB0 + height]) * 32
        status = 0 if self.fail_with is not None else 1
        self.receipts[tx_hash] = {"blockNumber": height, "blockHash": self.blocks[height], "status": status}
        self.w3.eth.block_number = height
        self.latest = self.pending = self.pending + 1
        if self.fail_with is not None:
            self.fail_with.tx_hash = tx_hash
            raise self.fail_with
        self.sent.append(call.fn_name)
        return SimpleNamespace(tx_hash=tx_hash, gas_used=21_000, block_number=height,
                               receipt=self.receipts[tx_hash])

    def reorg(self, depth: int) -> None:
        """The last `depth` blocks leave the chain with their transactions (nothing goes back to the pool)."""
        for _ in range(depth):
            height = max(self.blocks)
            gone = self.blocks.pop(height)
            self.receipts = {h: r for h, r in self.receipts.items() if r["blockHash"] != gone}
            self.latest = self.pending = self.pending - 1
        self.w3.eth.block_number = max(self.blocks, default=0)


CALL = SimpleNamespace(fn_name="pick")


async def test_sends_once_per_state(tmp_path: Path) -> None:
    sender = FakeSender()
    responder = Responder(sender, Journal(tmp_path))  # type: ignore[arg-type]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).mined
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).status == "skipped"
    assert (await responder.send("game-1", "PICK:1:2:4", CALL)).mined  # a new state: a new move
    assert sender.sent == ["pick", "pick"]
    intent = Journal(tmp_path).get("game-1")
    assert intent is not None
    assert (intent.fingerprint, intent.nonce, intent.status, intent.block) == ("PICK:1:2:4", 1, "mined", 2)
    assert intent.block_hash == (b"\xb2" * 32).hex()


async def test_a_move_whose_block_was_reorganized_away_is_sent_again(tmp_path: Path) -> None:
    sender = FakeSender()
    responder = Responder(sender, Journal(tmp_path))  # type: ignore[arg-type]
    assert (await responder.send("submit-1", "open:0", CALL)).mined
    sender.reorg(1)
    assert (await responder.send("submit-1", "open:0", CALL)).mined  # its receipt is gone from the chain
    assert (await responder.send("submit-1", "open:0", CALL)).status == "skipped"
    assert sender.sent == ["pick", "pick"]


async def test_killed_after_broadcast_is_not_resent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.put(Intent("game-1", "PICK:1:0:8", "pick", nonce=4))  # written, then the process died
    sender = FakeSender(latest=5, pending=5)  # … but nonce 4 was used: the move left the node
    responder = Responder(sender, journal)  # type: ignore[arg-type]
    responder.reconcile()
    assert journal.get("game-1").status == "sent"  # type: ignore[union-attr]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).status == "skipped"
    assert sender.sent == []


async def test_queued_in_the_pool_is_not_resent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.put(Intent("game-1", "BISECT:1:0:8", "bisect", nonce=4))
    sender = FakeSender(latest=4, pending=5)
    responder = Responder(sender, journal)  # type: ignore[arg-type]
    assert (await responder.send("game-1", "BISECT:1:0:8", CALL)).status == "skipped"
    assert sender.sent == []


async def test_in_the_pool_is_not_resent_and_behind_a_nonce_gap_gets_the_gap_filled(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ready, gapped = b"\x0a" * 32, b"\x0b" * 32
    journal.put(Intent("game-1", "PICK:1:0:8", "pick", nonce=4, tx_hash=ready.hex()))
    journal.put(Intent("game-2", "PICK:2:0:8", "pick", nonce=7, tx_hash=gapped.hex()))
    # nonce 4 is pooled and next in line; nonce 7 waits for nonces 5 and 6, which a revert took off the chain
    sender = FakeSender(latest=4, pending=5, pool={ready: 4, gapped: 7})
    responder = Responder(sender, journal)  # type: ignore[arg-type]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).status == "skipped"
    assert sender.fillers == 0
    # sent again, the move would be mined twice once the gap closed: the gap is filled instead
    assert (await responder.send("game-2", "PICK:2:0:8", CALL)).status == "skipped"
    assert (sender.sent, sender.fillers) == ([], 2)
    assert journal.get("game-2").status == "sent"  # type: ignore[union-attr]


async def test_killed_before_broadcast_is_sent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.put(Intent("game-1", "PICK:1:0:8", "pick", nonce=4))
    sender = FakeSender(latest=4, pending=4)  # nonce 4 still free: it never left
    responder = Responder(sender, journal)  # type: ignore[arg-type]
    responder.reconcile()
    assert journal.get("game-1").status == "dropped"  # type: ignore[union-attr]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).mined
    assert sender.sent == ["pick"]


async def test_rejected_at_estimate_may_retry_reverted_retries_a_few_times(tmp_path: Path) -> None:
    sender = FakeSender(fail_with=ContractRevert("WindowOpen", (5,), b""))
    responder = Responder(sender, Journal(tmp_path))  # type: ignore[arg-type]
    outcome = await responder.send("finalize-1", "1", CALL)
    assert (outcome.status, outcome.error) == ("rejected", "WindowOpen")
    assert (await responder.send("finalize-1", "1", CALL)).status == "rejected"  # tried again: nothing was sent
    sender.fail_with = ContractRevert("GameOver", (1,), b"", tx_hash=b"\x22" * 32, gas_used=30_000)
    for _ in range(MAX_ATTEMPTS):  # mined and reverted: a transient race, so tried again for the same state …
        assert (await responder.send("game-2", "STEP:3:6:7", CALL)).status == "reverted"
    assert (await responder.send("game-2", "STEP:3:6:7", CALL)).status == "skipped"  # … but not forever
    assert len([r for r in sender.receipts.values() if r["status"] == 0]) == MAX_ATTEMPTS


async def test_unreachable_node_leaves_the_intent_pending(tmp_path: Path) -> None:
    sender = FakeSender(fail_with=TxError("node unreachable"))
    journal = Journal(tmp_path)
    outcome = await Responder(sender, journal).send("game-1", "PICK:1:0:8", CALL)  # type: ignore[arg-type]
    assert outcome.status == "failed" and journal.get("game-1").status == "pending"  # type: ignore[union-attr]


def test_cache_files_survive_and_corruption_is_reported(tmp_path: Path) -> None:
    claims = ClaimCache(tmp_path)
    claims.put(1, b"\xaa" * 32, b"out", b"\x01" * 32, b"\x02" * 32)
    assert ClaimCache(tmp_path).get(1, b"\xaa" * 32) == {"output": "6f7574", "output_commitment": "01" * 32,
                                                         "trace_commitment": "02" * 32, "runs_vm": False}
    assert claims.get(2, b"\xaa" * 32) is None
    journal = Journal(tmp_path)
    (tmp_path / "intents" / "game-9.json").write_text("{not json")
    with pytest.raises(CacheError, match="corrupt"):
        journal.get("game-9")


async def test_urgent_sends_go_first_when_every_slot_is_taken() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def hold(name: str, priority: int) -> None:
        async with slots.slot(priority):
            order.append(name)
            await gate.wait()

    first = asyncio.create_task(hold("first", 3))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(hold(name, p)) for name, p in (("submit", 3), ("withdraw", 2), ("move", 0))]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "move", "withdraw", "submit"]
