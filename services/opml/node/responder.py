"""Responder: sends the node's transactions, one at a time, through `TxSender`, journaling each intent first.

A move is keyed (`game-7`, `submit-3`, …) and fingerprinted by the chain state it answers. Before sending, the
responder looks at the journal: an intent for the same key and state whose nonce the chain has used (or holds
in its pool) was already sent, so it is not sent again; an intent whose nonce is still free never left the node
(killed before broadcast) and is sent now. Every transaction of the node goes through here, so a journaled nonce
can only ever be used by its own intent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import structlog

from opml.chain.tx import ContractRevert, TxError, TxSender

from .cache import Intent, Journal

log = structlog.get_logger(__name__)

_WRAPPING_ERRORS = ("LinkProofInvalid", "StepWitnessInvalid")


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
    """Journaled, serialized transaction sending for one key pair."""

    def __init__(self, sender: TxSender, journal: Journal) -> None:
        self.sender = sender
        self.journal = journal
        self._lock = asyncio.Lock()
        self.log = log.bind(sender=sender.address)

    def reconcile(self) -> None:
        """At start-up: settle every `pending` intent against the chain (broadcast or never sent)."""
        for intent in self.journal.all():
            if intent.status == "pending":
                self._settle(intent)

    async def send(self, key: str, fingerprint: str, call: Any, *, value: int = 0, label: str = "") -> Outcome:
        """Send `call` for `key` at chain state `fingerprint` unless it was already sent for that state."""
        async with self._lock:
            return await asyncio.to_thread(self._send, key, fingerprint, call, value, label or call.fn_name)

    # -- steps ----------------------------------------------------------------------------------------------
    def _send(self, key: str, fingerprint: str, call: Any, value: int, label: str) -> Outcome:
        prior = self.journal.get(key)
        if prior is not None and prior.fingerprint == fingerprint:
            if prior.status == "pending":
                prior = self._settle(prior)
            if prior.status != "dropped":
                self.log.info("move_already_sent", key=key, action=label, nonce=prior.nonce, status=prior.status)
                return Outcome("skipped")
        try:
            nonce = self.sender.resync_nonce()
        except TxError as exc:
            return Outcome("failed", repr(exc))
        intent = Intent(key, fingerprint, label, nonce)
        self.journal.put(intent)
        try:
            mined = self.sender.send(call, value=value, label=label)
        except ContractRevert as revert:
            return self._reverted(intent, revert)
        except TxError as exc:  # unknown whether it left: the nonce check decides on the next attempt
            self.log.warning("send_failed", key=key, action=label, error=repr(exc))
            return Outcome("failed", repr(exc))
        self.journal.put(replace(intent, status="mined", tx_hash=mined.tx_hash.hex()))
        return Outcome("mined", gas_used=mined.gas_used, receipt=mined.receipt)

    def _reverted(self, intent: Intent, revert: ContractRevert) -> Outcome:
        error = self.error_name(revert)
        if revert.tx_hash is None:  # rejected at estimation: nothing was broadcast, the nonce is still free
            self.journal.put(replace(intent, status="dropped"))
            self.log.info("move_rejected", key=intent.key, action=intent.action, error=error)
            return Outcome("rejected", error)
        self.journal.put(replace(intent, status="reverted", tx_hash=revert.tx_hash.hex()))
        self.log.warning("move_reverted", key=intent.key, action=intent.action, error=error, gas=revert.gas_used)
        return Outcome("reverted", error, revert.gas_used)

    def _settle(self, intent: Intent) -> Intent:
        """A pending intent becomes `sent` when its nonce is used or queued, else `dropped` (never broadcast)."""
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
