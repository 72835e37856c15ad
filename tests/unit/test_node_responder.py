"""The responder's journal: a move is never sent twice for the same chain state, across restarts.

A fake sender stands in for the chain: it counts the nonces used (`latest`) and queued (`pending`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from opml.chain.tx import ContractRevert, ErrorDecoder, TxError
from opml.node.cache import CacheError, ClaimCache, Intent, Journal
from opml.node.responder import Responder


@dataclass
class FakeSender:
    latest: int = 0
    pending: int = 0
    sent: list[str] = field(default_factory=list)
    fail_with: Exception | None = None
    address: str = "0x0000000000000000000000000000000000000001"
    errors: ErrorDecoder = field(default_factory=ErrorDecoder)

    def __post_init__(self) -> None:
        counts = {"latest": lambda: self.latest, "pending": lambda: self.pending}
        self.w3 = SimpleNamespace(eth=SimpleNamespace(get_transaction_count=lambda _a, block: counts[block]()))

    def resync_nonce(self) -> int:
        return self.pending

    def send(self, call: SimpleNamespace, *, value: int = 0, label: str = "") -> SimpleNamespace:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(call.fn_name)
        self.latest = self.pending = self.pending + 1
        return SimpleNamespace(tx_hash=b"\x11" * 32, gas_used=21_000, receipt={})


CALL = SimpleNamespace(fn_name="pick")


async def test_sends_once_per_state(tmp_path: Path) -> None:
    sender = FakeSender()
    responder = Responder(sender, Journal(tmp_path))  # type: ignore[arg-type]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).mined
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).status == "skipped"
    assert (await responder.send("game-1", "PICK:1:2:4", CALL)).mined  # a new state: a new move
    assert sender.sent == ["pick", "pick"]
    assert Journal(tmp_path).get("game-1") == Intent("game-1", "PICK:1:2:4", "pick", 1, "mined", "11" * 32)


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


async def test_killed_before_broadcast_is_sent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.put(Intent("game-1", "PICK:1:0:8", "pick", nonce=4))
    sender = FakeSender(latest=4, pending=4)  # nonce 4 still free: it never left
    responder = Responder(sender, journal)  # type: ignore[arg-type]
    responder.reconcile()
    assert journal.get("game-1").status == "dropped"  # type: ignore[union-attr]
    assert (await responder.send("game-1", "PICK:1:0:8", CALL)).mined
    assert sender.sent == ["pick"]


async def test_rejected_at_estimate_may_retry_reverted_may_not(tmp_path: Path) -> None:
    sender = FakeSender(fail_with=ContractRevert("WindowOpen", (5,), b""))
    responder = Responder(sender, Journal(tmp_path))  # type: ignore[arg-type]
    outcome = await responder.send("finalize-1", "1", CALL)
    assert (outcome.status, outcome.error) == ("rejected", "WindowOpen")
    assert (await responder.send("finalize-1", "1", CALL)).status == "rejected"  # tried again: nothing was sent
    sender.fail_with = ContractRevert("GameOver", (1,), b"", tx_hash=b"\x22" * 32, gas_used=30_000)
    assert (await responder.send("game-2", "STEP:3:6:7", CALL)).status == "reverted"
    assert (await responder.send("game-2", "STEP:3:6:7", CALL)).status == "skipped"  # gas was spent once


async def test_unreachable_node_leaves_the_intent_pending(tmp_path: Path) -> None:
    sender = FakeSender(fail_with=TxError("node unreachable"))
    journal = Journal(tmp_path)
    outcome = await Responder(sender, journal).send("game-1", "PICK:1:0:8", CALL)  # type: ignore[arg-type]
    assert outcome.status == "failed" and journal.get("game-1").status == "pending"  # type: ignore[union-attr]


def test_cache_files_survive_and_corruption_is_reported(tmp_path: Path) -> None:
    claims = ClaimCache(tmp_path)
    claims.put(1, b"\xaa" * 32, b"out", b"\x01" * 32, b"\x02" * 32)
    assert ClaimCache(tmp_path).get(1, b"\xaa" * 32) == {"output": "6f7574", "output_commitment": "01" * 32,
                                                         "trace_commitment": "02" * 32}
    assert claims.get(2, b"\xaa" * 32) is None
    journal = Journal(tmp_path)
    (tmp_path / "intents" / "game-9.json").write_text("{not json")
    with pytest.raises(CacheError, match="corrupt"):
        journal.get("game-9")
