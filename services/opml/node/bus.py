"""MQTT notification bus (aiomqtt). The chain is the source of truth: nodes use the bus only to react sooner,
and a node works unchanged with the broker down (publishes are dropped, the connection is retried).

Topics (`<chain>` is the chain id, payloads are JSON of the models below):

    opml/<chain>/status/<node>        NodeStatus        retained; every few seconds
    opml/<chain>/submissions          SubmissionNote    a node submitted a result
    opml/<chain>/disputes/<gameId>    DisputeNote       a move was mined in game <gameId>
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import aiomqtt
import structlog
from pydantic import BaseModel

log = structlog.get_logger(__name__)


class NodeStatus(BaseModel):
    node: str
    role: str
    address: str
    head: int
    games_in_flight: int
    time: float


class SubmissionNote(BaseModel):
    request_id: int
    submission_id: int
    submitter: str
    output_commitment: str


class DisputeNote(BaseModel):
    game_id: int
    request_id: int
    phase: str
    depth: int
    lo: int
    hi: int
    mover: str
    action: str


def status_topic(chain_id: int, node: str) -> str:
    return f"opml/{chain_id}/status/{node}"


def submissions_topic(chain_id: int) -> str:
    return f"opml/{chain_id}/submissions"


def dispute_topic(chain_id: int, game_id: int) -> str:
    return f"opml/{chain_id}/disputes/{game_id}"


class Bus:
    """One MQTT connection: a publish queue and a subscription to `opml/<chain>/#`.

    `on_message(topic, payload)` is called for every message received (including the node's own)."""

    def __init__(self, host: str, port: int, chain_id: int, node: str,
                 on_message: Callable[[str, bytes], None] | None = None, retry_s: float = 1.0) -> None:
        self.host, self.port = host, port
        self.chain_id = chain_id
        self.node = node
        self.on_message = on_message
        self.retry_s = retry_s
        self.connected = False
        # unique per connection: two nodes with the same name must not take each other's session on the broker
        self.client_id = f"opml-{node}-{secrets.token_hex(4)}"
        self._reported_unreachable = False
        self._queue: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue(maxsize=1000)

    def publish(self, topic: str, payload: BaseModel, retain: bool = False) -> None:
        """Queue a message; dropped when the queue is full (the broker has been down for a while)."""
        try:
            self._queue.put_nowait((topic, payload.model_dump_json().encode(), retain))
        except asyncio.QueueFull:
            log.debug("bus_drop", topic=topic)

    async def run(self) -> None:
        """Stay connected forever: publish what is queued, deliver what arrives; reconnect after failures."""
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=self.client_id) as client:
                    self.connected = True
                    self._reported_unreachable = False
                    log.info("bus_connected", broker=f"{self.host}:{self.port}")
                    await client.subscribe(f"opml/{self.chain_id}/#")
                    await asyncio.gather(self._publisher(client), self._receiver(client))
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("bus_disconnected", error=str(exc))
                elif not self._reported_unreachable:
                    log.warning("bus_unreachable", broker=f"{self.host}:{self.port}", error=str(exc),
                                note="the node works from the chain alone and keeps retrying")
                    self._reported_unreachable = True
                self.connected = False
            await asyncio.sleep(self.retry_s)

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await self._queue.get()
            await client.publish(topic, payload, qos=0, retain=retain)

    async def _receiver(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self.on_message is not None:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                self.on_message(str(message.topic), payload)
