"""The submitter daemon: answers every request for a model it serves (or those named by `requests`, plus any
request reopened by a successful challenge), defends its results in disputes, finalizes them once the challenge
window has passed, and withdraws its fees and bonds.

    opml submitter --config config/submitter.toml
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from web3 import Web3

from opml.chain.bindings import RequestStatus, SubmissionStatus
from opml.game.types import Role

from .backends import Claim
from .bus import SubmissionNote, submissions_topic
from .config import NodeConfig
from .daemon import MIN_GAS_WEI, Daemon
from .deployment import Deployment
from .monitor import ChainEvent

SUBMITTED_CHECK_S = 30.0  # a submitted request's task re-reads the chain this often when nothing woke it
FUNDS_CHECK_S = 2.0  # how often the balance is read, at most (and by an unfunded node waiting for funds)


class Submitter(Daemon):
    role = Role.SUBMITTER

    def __init__(self, config: NodeConfig, deployment: Deployment | None = None) -> None:
        super().__init__(config, deployment)
        self.submissions: dict[int, list[int]] = {}  # request id → every submission id seen on it
        self.served: set[int] = set()  # requests for a model this node serves
        self._balance_read: tuple[float, int] | None = None  # (when, wei)
        self._balance_lock = asyncio.Lock()
        self._waiting_for_funds = 0
        self._stirred: dict[int, int] = {}  # request id → events on it other than a result's submission

    def _serve(self, request_id: int) -> None:
        self.scheduler.ensure(f"request-{request_id}", lambda: self.serve_request(request_id))

    def on_event(self, event: ChainEvent) -> None:
        args = event.args
        if event.name == "RequestCreated" and args["modelId"] in self.backends:
            request_id = args["requestId"]
            self.served.add(request_id)
            if request_id not in self.closed and (not self.config.requests or request_id in self.config.requests):
                self._serve(request_id)
        elif event.name == "Slashed" and args["requestId"] in self.served and args["requestId"] not in self.closed:
            self._serve(args["requestId"])  # reopened: answered by every submitter whose result was not slashed
        elif event.name == "ResultSubmitted":
            self.submissions.setdefault(args["requestId"], []).append(args["submissionId"])
        elif event.name == "Challenged":
            game_id = args["gameId"]
            self.scheduler.ensure(f"game-{game_id}", lambda: self.play_game(game_id))
        if event.name != "ResultSubmitted" and "requestId" in args:
            self._stirred[args["requestId"]] = self._stirred.get(args["requestId"], 0) + 1

    async def serve_request(self, request_id: int) -> None:
        """Submit this node's result while the request is open; finalize it once it may be finalized."""
        claim = await self.claim_for(request_id)
        if claim is None:
            return
        log = self.log.bind(request=request_id)
        refusal = await asyncio.to_thread(claim.refusal)
        if refusal is not None:  # a result this node could not defend: it would be slashed
            log.error("submission_refused", reason=refusal)
            return
        coordinator = self.bindings.coordinator
        # once this node's result is mined, nothing is left to do before its window ends unless another event
        # concerns the request (a challenge, a slash; a reorganization restarts the task): no chain reads meanwhile
        window_end, stirred = 0, 0
        while True:
            if await self.chain_time() < window_end and self._stirred.get(request_id, 0) == stirred:
                await self.scheduler.news(SUBMITTED_CHECK_S)
                continue
            request = await asyncio.to_thread(coordinator.get_request, request_id)
            if request.status is RequestStatus.FINALIZED:
                log.info("request_final", submission=request.active_submission)
                return
            if request.status is RequestStatus.CANCELLED:
                log.info("request_cancelled")  # the requester took its fee back: nothing to serve
                return
            if request.status is RequestStatus.OPEN:
                if await self._was_slashed(request_id):
                    log.info("not_resubmitting", reason="this node's result on the request was slashed")
                    return
                if await self._slashed_games_open(request_id, log):
                    await self.scheduler.news(self.config.poll_interval_s)
                    continue
                stirred = self._stirred.get(request_id, 0)
                window_end = await self._submit(request_id, claim, log)
                continue
            elif request.status is RequestStatus.SUBMITTED:
                if await self._maybe_finalize(request_id, request.active_submission, log):
                    return  # finalized by this node (a reorganization that drops it starts the task again)
                # the window's end (`wake_at`) or an event naming the request wakes it: the timeout is a safety net
                await self.scheduler.news(SUBMITTED_CHECK_S)
                continue
            await self.scheduler.news(self.config.poll_interval_s * 5)

    async def _was_slashed(self, request_id: int) -> bool:
        coordinator = self.bindings.coordinator
        for submission_id in self.submissions.get(request_id, []):
            submission = await asyncio.to_thread(coordinator.get_submission, submission_id)
            if Web3.to_checksum_address(submission.submitter) == self.address and \
                    submission.status is SubmissionStatus.SLASHED:
                return True
        return False

    async def _slashed_games_open(self, request_id: int, log: Any) -> bool:
        """Whether games on the request's last slashed result are still open (the Coordinator takes no new result
        until they end: `SlashedGamesOpen`); releases those it may (anyone may release a moot game)."""
        coordinator = self.bindings.coordinator
        if not self.submissions.get(request_id):
            return False  # no result was ever submitted on it (as far as the events say), so none was slashed
        slashed = await asyncio.to_thread(coordinator.last_slashed, request_id)
        if not slashed:
            return False
        submission = await asyncio.to_thread(coordinator.get_submission, slashed)
        if not submission.open_games:
            return False
        log.info("waiting_for_moot_games", submission=slashed, open_games=submission.open_games)
        event = coordinator.contract.events.Challenged
        logs = await asyncio.to_thread(event.get_logs, argument_filters={"submissionId": slashed},
                                       from_block=self.deployment.start_block)
        for game_id in sorted(int(entry["args"]["gameId"]) for entry in logs):
            challenge = await asyncio.to_thread(coordinator.get_challenge, game_id)
            if not challenge.settled:  # a moot game its challenger leaves open (a sybil's) would block the request
                await self.responder.send(f"release-{game_id}", "moot", coordinator.release_game(game_id),
                                          label="releaseGame")
        return True

    async def _submit(self, request_id: int, claim: Claim, log: Any) -> int:
        """Post this node's result; the end of its challenge window when it was mined, else 0."""
        coordinator = self.bindings.coordinator
        bond = await self.constant("submitter_bond", coordinator.submitter_bond)
        if bond > self.config.max_bond_wei:
            log.error("bond_too_high", bond=bond, max_bond_wei=self.config.max_bond_wei)
            await self.scheduler.news(self.config.poll_interval_s * 5)
            return 0
        await self._await_funds(bond + MIN_GAS_WEI, log)
        seen = len(self.submissions.get(request_id, []))
        async with self.scheduler.away():  # waiting to be mined is no work: another request's task may run
            outcome = await self.responder.send(f"submit-{request_id}", f"open:{seen}",
                                                coordinator.submit(request_id, claim.output, claim.trace_commitment),
                                                value=bond, label="submit")
        if not outcome.mined:
            await self.scheduler.news(self.config.poll_interval_s * 5)
            return 0
        (event,) = coordinator.events("ResultSubmitted", outcome.receipt)
        self.metrics.submissions.inc()
        self.metrics.bonds_posted.inc(bond)
        log.info("result_submitted", submission=event["submissionId"], window_end=event["windowEnd"],
                 output_commitment=claim.output_commitment)
        self.publish(submissions_topic(self.deployment.chain_id), SubmissionNote(
            request_id=request_id, submission_id=event["submissionId"], submitter=self.address,
            output_commitment="0x" + claim.output_commitment.hex()))
        return int(event["windowEnd"])

    async def _await_funds(self, needed: int, log: Any) -> None:
        """Return once the account holds `needed` wei (a bond plus gas). An unfunded node does not try to send
        (every attempt would cost two chain calls and fail): its tasks wait here, without a turn, while the
        balance is read once per `FUNDS_CHECK_S` however many wait; `unfunded_waiting` is logged once per wait."""
        balance = await self._balance()
        if balance >= needed:
            return
        self._waiting_for_funds += 1
        try:
            if self._waiting_for_funds == 1:
                log.error("unfunded_waiting", balance_wei=balance, needed_wei=needed,
                          reason="the account cannot pay a bond plus gas; send it ETH")
            async with self.scheduler.away():
                while await self._balance() < needed:
                    await asyncio.sleep(FUNDS_CHECK_S)
        finally:
            self._waiting_for_funds -= 1

    async def _balance(self) -> int:
        """The account's balance, read at most once per `FUNDS_CHECK_S` (a stale one only delays a send's own
        failure, which its task retries)."""
        async with self._balance_lock:
            now = time.monotonic()
            if self._balance_read is None or now - self._balance_read[0] >= FUNDS_CHECK_S:
                self._balance_read = (now, await asyncio.to_thread(self.w3.eth.get_balance, self.address))
            return self._balance_read[1]

    async def _maybe_finalize(self, request_id: int, submission_id: int, log: Any) -> bool:
        """Finalize this node's result once its window has passed with no open game; True when it did."""
        coordinator = self.bindings.coordinator
        submission = await asyncio.to_thread(coordinator.get_submission, submission_id)
        if Web3.to_checksum_address(submission.submitter) != self.address:
            return False  # another node's result: its owner finalizes it (or a challenger reopens the request)
        if submission.open_games or await self.chain_time() < submission.window_end:
            return False
        async with self.scheduler.away():
            outcome = await self.responder.send(f"finalize-{request_id}", str(submission_id),
                                                coordinator.finalize(request_id), label="finalize")
        if outcome.mined:
            callbacks = coordinator.events("CallbackResult", outcome.receipt)
            log.info("request_finalized", submission=submission_id,
                     callback_ok=callbacks[0]["success"] if callbacks else None)
        return outcome.mined
