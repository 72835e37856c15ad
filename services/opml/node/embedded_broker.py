"""An MQTT broker inside the node's own process (amqtt): the default where no broker is configured, so a lone
daemon or `opml devnet up` on a machine without mosquitto still has a bus. Loopback only, anonymous clients.

    async with EmbeddedBroker() as broker:      # a free port on 127.0.0.1
        ... Bus("127.0.0.1", broker.port, ...) ...

Integration tests use real mosquitto (`opml.node.broker.Mosquitto`); both speak plain MQTT 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

import structlog

from opml.chain.anvil import free_port

log = structlog.get_logger(__name__)


class EmbeddedBrokerError(Exception):
    """The embedded broker could not start (port taken, amqtt missing)."""


def _plugins() -> dict[str, dict]:
    """Anonymous clients, no $SYS topics, no packet logging: a quiet local bus."""
    return {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}


class EmbeddedBroker:
    """amqtt's broker on 127.0.0.1:`port` (a free one by default), running on the caller's event loop."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        """Start listening; EmbeddedBrokerError when the port is taken or the broker does not come up."""
        try:
            from amqtt.broker import Broker
            from amqtt.errors import AMQTTError, BrokerError
        except ImportError as exc:  # amqtt is a dependency; a clear message all the same
            raise EmbeddedBrokerError(f"amqtt is not installed ({exc}); `pip install -e .`") from None
        for name in ("amqtt", "transitions"):  # its own notes and tracebacks are not the node's logs; a failure
            logging.getLogger(name).setLevel(logging.CRITICAL)  # to start is reported as EmbeddedBrokerError
        config = {"listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                  "plugins": _plugins()}
        self._broker = Broker(config)
        try:
            await asyncio.wait_for(self._broker.start(), timeout_s)
        except (OSError, TimeoutError, AMQTTError, BrokerError) as exc:  # a bind error arrives as BrokerError
            self._broker = None
            raise EmbeddedBrokerError(f"embedded MQTT broker did not start on {self.host}:{self.port}: {exc}") \
                from None
        log.info("embedded_broker_started", url=self.url)
        return self

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

