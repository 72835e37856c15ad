"""The challenger daemon: checks every result for a model it serves against its own, challenges the ones that
differ while their window is open, plays the disputes, and withdraws what it wins.

    opml challenger --config config/challenger.toml
"""

from __future__ import annotations

import asyncio

from web3 import Web3

from opml.chain.bindings import Submission, SubmissionStatus
from opml.game.types import Role

from .backends import Claim
from .config import NodeConfig
from .daemon import Daemon
from .deployment import Deployment
from .monitor import ChainEvent


def disagreement(submission: Submission, claim: Claim) -> str | None:
    """Why `submission` is not this node's result, or None when it is exactly: any byte of the output, its
    commitment, or the trace commitment the game will hold the submitter to."""
    if bytes(submission.output) != claim.output:
        return "output bytes differ"
    if bytes(submission.output_commitment) != claim.output_commitment:
        return "output commitment differs"
    if bytes(submission.trace_commitment) != claim.trace_commitment:
        return "trace commitment differs"
    return None


class Challenger(Daemon):
    role = Role.CHALLENGER

    def __init__(self, config: NodeConfig, deployment: Deployment | None = None) -> None:
        super().__init__(config, deployment)
        self.models: dict[int, int] = {}  # request id → model id
        self.challenged: dict[int, int] = {}  # submission id → this node's game on it

    def on_event(self, event: ChainEvent) -> None:
        args = event.args
        if event.name == "RequestCreated":
            self.models[args["requestId"]] = args["modelId"]
        elif event.name == "ResultSubmitted":
            if self.models.get(args["requestId"]) in self.backends and args["requestId"] not in self.closed and \
                    Web3.to_checksum_address(args["submitter"]) != self.address:  # (a closed one cannot be challenged)
                submission_id = args["submissionId"]
                self.scheduler.ensure(f"submission-{submission_id}",
                                      lambda: self.check_submission(args["requestId"], submission_id))
        elif event.name == "Challenged" and Web3.to_checksum_address(args["challenger"]) == self.address:
            self.challenged[args["submissionId"]] = args["gameId"]
            game_id = args["gameId"]
            self.scheduler.ensure(f"game-{game_id}", lambda: self.play_game(game_id))

    async def check_submission(self, request_id: int, submission_id: int) -> None:
        """Challenge `submission_id` when it is not byte for byte this node's result (and the window is open)."""
        log = self.log.bind(request=request_id, submission=submission_id)
        claim = await self.claim_for(request_id)
        if claim is None:
            return
        coordinator = self.bindings.coordinator
        submission = await asyncio.to_thread(coordinator.get_submission, submission_id)
        reason = disagreement(submission, claim)
        if reason is None:
            log.info("result_agreed")
            return
        if submission_id in self.challenged or submission.status is not SubmissionStatus.PENDING:
            return
        if await self.chain_time() >= submission.window_end:
            log.warning("window_missed", window_end=submission.window_end)
            return
        bond = await asyncio.to_thread(coordinator.challenger_bond)
        if bond > self.config.max_bond_wei:
            log.error("bond_too_high", bond=bond, max_bond_wei=self.config.max_bond_wei)
            return
        log.info("result_disputed", reason=reason, theirs=bytes(submission.output_commitment),
                 ours=claim.output_commitment)
        outcome = await self.responder.send(f"challenge-{submission_id}", "pending",
                                            coordinator.challenge(request_id), value=bond, label="challenge")
        if not outcome.mined:  # refused, reverted or not sent: decide again from the chain at the next news
            await self.scheduler.news(self.config.poll_interval_s * 5)
            return await self.check_submission(request_id, submission_id)
        (event,) = coordinator.events("Challenged", outcome.receipt)
        game_id = event["gameId"]
        self.challenged[submission_id] = game_id
        self.metrics.challenges.inc()
        self.metrics.bonds_posted.inc(bond)
        log.info("challenged", game=game_id)
        self.scheduler.ensure(f"game-{game_id}", lambda: self.play_game(game_id))
