"""Responder: sends the node's transactions through `TxSender`, journaling each intent before its broadcast,
several in flight at once (nonces handed out locally), the most urgent first.

A move is keyed (`game-7`, `submit-3`, …) and fingerprinted by the chain state it answers. Before sending, the
responder looks at the journal, and at the chain for what the journal says: an intent for the same key and state
counts as done only while its transaction is in the canonical chain (its receipt's block hash is the block hash
at that height) or still in the node's pool. One whose block was reorganized away, or that never left the node
(killed before broadcast), is sent again. One mined but reverted is sent again too, up to `MAX_ATTEMPTS` times
for the same state: the estimate passed, so the revert came from a transaction that got in first (a transient
race), and an honest party must not sit out its clock over it. An intent deeper than `final_depth` blocks is
trusted without a look. Every transaction of the node goes through here, so a journaled nonce can only ever be
used by its own intent.

Urgency (when all slots are taken, the lowest number goes first): game moves 0; finalizations and challenges 1
(they have deadlines); withdrawals 2; new submissions 3.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from typing import Any

import structlog
from web3.exceptions import TransactionNotFound

from opml.chain.tx import ContractRevert, TxError, TxSender

from .cache import Intent, Journal
from .slots import PrioritySlots

log = structlog.get_logger(__name__)

_WRAPPING_ERRORS = ("LinkProofInvalid", "StepWitnessInvalid")
MAX_ATTEMPTS = 3
URGENCY = {"finalize": 1, "challenge": 1, "withdraw": 2, "submit": 3}


def urgency(label: str) -> int:
    """0 for game moves (they run on a clock), then finalize/challenge, withdraw, submit."""
    return URGENCY.get(label, 0)


@dataclass(frozen=True)
class Outcome:
    """What became of a send: `mined`, `rejected` (the estimate reverted: nothing sent), `reverted` (mined and
    reverted: gas spent), `skipped` (already sent for this state), or `failed` (the node could not be reached)."""

    status: str
    error: str = ""
    gas_used: int = 0
    receipt: Any = None

    @property
    def mined(self) -> bool:
        return self.status == "mined"


class Responder:
    """Journaled transaction sending for one key pair, `in_flight` at a time, by urgency."""

    def __init__(self, sender: TxSender, journal: Journal, in_flight: int = 8, final_depth: int = 64) -> None:
        self.sender = sender
        self.journal = journal
        self.final_depth = final_depth
        self.slots = PrioritySlots(in_flight)
        self.log = log.bind(sender=sender.address)
        self._key_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self.slots.in_use

    def reconcile(self) -> None:
        """At start-up: settle every `pending` intent against the chain (broadcast or never sent)."""
        for intent in self.journal.all():
            if intent.status == "pending":
                self._settle(intent)

    async def send(self, key: str, fingerprint: str, call: Any, *, value: int = 0, label: str = "") -> Outcome:
        """Send `call` for `key` at chain state `fingerprint` unless it was already sent for that state."""
        label = label or call.fn_name
        async with self.slots.slot(urgency(label)):
            return await asyncio.to_thread(self._send, key, fingerprint, call, value, label)

    # -- steps ----------------------------------------------------------------------------------------------
    def _send(self, key: str, fingerprint: str, call: Any, value: int, label: str) -> Outcome:
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:  # a task cancelled mid-send leaves its thread running: its successor waits for the journal
            return self._send_once(key, fingerprint, call, value, label)

    def _send_once(self, key: str, fingerprint: str, call: Any, value: int, label: str) -> Outcome:
        attempts = 1
        prior = self.journal.get(key)
        if prior is not None and prior.fingerprint == fingerprint:
            prior = self._settle(prior) if prior.status == "pending" else self._recheck(prior)
            if prior.status in ("mined", "sent") or (prior.status == "reverted" and prior.attempts >= MAX_ATTEMPTS):
                self.log.info("move_already_sent", key=key, action=label, nonce=prior.nonce, status=prior.status)
                return Outcome("skipped")
            if prior.status == "reverted":
                self.log.info("move_retried", key=key, action=label, attempt=prior.attempts + 1)
            attempts = prior.attempts + (prior.status == "reverted")
        intent = Intent(key, fingerprint, label, -1, attempts=attempts)

        def journal(nonce: int, tx_hash: bytes) -> None:
            nonlocal intent
            intent = replace(intent, nonce=nonce, tx_hash=tx_hash.hex())
            self.journal.put(intent)

        try:
            mined = self.sender.send(call, value=value, label=label, before_broadcast=journal)
        except ContractRevert as revert:
            return self._reverted(intent, revert)
        except TxError as exc:  # unknown whether it left: the journal check decides on the next attempt
            self.log.warning("send_failed", key=key, action=label, error=repr(exc))
            return Outcome("failed", repr(exc))
        block_hash = mined.receipt.get("blockHash") if hasattr(mined.receipt, "get") else None
        self.journal.put(replace(intent, status="mined", tx_hash=mined.tx_hash.hex(), block=mined.block_number,
                                 block_hash=bytes(block_hash).hex() if block_hash else ""))
        return Outcome("mined", gas_used=mined.gas_used, receipt=mined.receipt)

    def _reverted(self, intent: Intent, revert: ContractRevert) -> Outcome:
        error = self.error_name(revert)
        if revert.tx_hash is None:  # rejected at estimation: nothing was broadcast, the nonce is still free
            if intent.nonce >= 0:
                self.journal.put(replace(intent, status="dropped"))
            self.log.info("move_rejected", key=intent.key, action=intent.action, error=error)
            return Outcome("rejected", error)
        self.journal.put(replace(intent, status="reverted", tx_hash=revert.tx_hash.hex()))
        self.log.warning("move_reverted", key=intent.key, action=intent.action, error=error, gas=revert.gas_used,
                         attempt=intent.attempts)
        return Outcome("reverted", error, revert.gas_used)

    def _recheck(self, intent: Intent) -> Intent:
        """A mined/reverted/sent intent as the canonical chain sees it now (`dropped` when its block is gone)."""
        if intent.status not in ("mined", "reverted", "sent") or not intent.tx_hash:
            return intent
        eth = self.sender.w3.eth
        if intent.block and intent.status != "sent" and eth.block_number - intent.block > self.final_depth:
            return intent
        observed = self._observe(intent)
        if observed.status != intent.status or observed.block_hash != intent.block_hash:
            if observed.status == "dropped":
                self.log.warning("move_dropped", key=intent.key, action=intent.action, tx=intent.tx_hash,
                                 was=intent.status, reason="its block left the canonical chain")
            self.journal.put(observed)
        return observed

    def _observe(self, intent: Intent) -> Intent:
        """Where the intent's transaction is: mined/reverted in a canonical block, `sent` (in the pool; one queued
        behind a nonce gap gets the gap filled), or `dropped` (nowhere)."""
        eth = self.sender.w3.eth
        tx_hash = bytes.fromhex(intent.tx_hash)
        try:
            receipt = eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            receipt = None
        if receipt is not None:
            block = eth.get_block(int(receipt["blockNumber"]))
            if block is not None and bytes(block["hash"]) == bytes(receipt["blockHash"]):
                status = "mined" if receipt["status"] == 1 else "reverted"
                return replace(intent, status=status, block=int(receipt["blockNumber"]),
                               block_hash=bytes(receipt["blockHash"]).hex())
        try:
            pooled = eth.get_transaction(tx_hash)
        except TransactionNotFound:
            pooled = None
        if pooled is None:
            self.sender.forget_nonce()  # its nonce may be free again (or taken): ask the chain
            return replace(intent, status="dropped", block=0, block_hash="")
        if eth.get_transaction_count(self.sender.address, "pending") <= int(pooled["nonce"]):
            # queued behind a nonce gap (a reorg or revert took an earlier transaction off the chain): as it
            # stands it is never mined, and sent again it would be mined twice once the gap closes
            self.sender.fill_nonce_gap(int(pooled["nonce"]))
        return replace(intent, status="sent", block=0, block_hash="")

    def _settle(self, intent: Intent) -> Intent:
        """A pending intent: where its transaction is (`_observe`); without a hash (older journals), `sent` when
        its nonce is used or queued, else `dropped` (never broadcast)."""
        if intent.tx_hash:
            settled = self._observe(intent)
        else:
            eth = self.sender.w3.eth
            address = self.sender.address
            used = eth.get_transaction_count(address, "latest") > intent.nonce
            queued = eth.get_transaction_count(address, "pending") > intent.nonce
            settled = replace(intent, status="sent" if used or queued else "dropped")
        self.journal.put(settled)
        self.log.info("intent_settled", key=intent.key, action=intent.action, nonce=intent.nonce,
                      status=settled.status)
        return settled

    def error_name(self, revert: ContractRevert) -> str:
        """`Name`, or `Outer(Inner)` for a verifier error wrapped in LinkProofInvalid/StepWitnessInvalid."""
        if revert.name in _WRAPPING_ERRORS and revert.arguments and isinstance(revert.arguments[0], bytes):
            return f"{revert.name}({self.sender.errors.decode(revert.arguments[0]).name})"
        return revert.name
