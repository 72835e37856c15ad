"""The embedded broker (amqtt), the default where no broker is configured: the first daemon hosts it in its own
process, a second daemon joins it, and a plain MQTT subscriber sees both daemons' status messages on it.
"""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest

from fixtures_node import NodeNet, bus_pair, wait_until
from opml.chain.anvil import free_port
from opml.node.bus import NodeStatus, status_topic
from opml.node.embedded_broker import EmbeddedBroker, EmbeddedBrokerError


class Spy:
    """A paho subscriber on `opml/31337/status/#` collecting (topic, payload)."""

    def __init__(self, port: int) -> None:
        self.seen: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("opml/31337/status/#")
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message) -> None:  # noqa: ANN001
        with self.lock:
            self.seen[message.topic] = json.loads(message.payload)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_daemon_hosts_the_embedded_broker_and_a_subscriber_sees_status(net: NodeNet) -> None:
    port = free_port()
    submitter = net.daemon("submitter", embedded_broker=True, embedded_broker_port=port)
    (started,) = submitter.wait_for("daemon_started")
    assert started["embedded_broker"] and started["broker"] == f"mqtt://127.0.0.1:{port}"
    submitter.wait_for("bus_connected")
    challenger = net.daemon("challenger", embedded_broker=True, embedded_broker_port=port)
    challenger.wait_for("embedded_broker_joined")  # the port is the submitter's broker: joined, not hosted
    (joined,) = challenger.wait_for("daemon_started")
    assert not joined["embedded_broker"]
    challenger.wait_for("bus_connected")
    spy = Spy(port)
    try:
        topics = {status_topic(31337, "submitter"): "submitter", status_topic(31337, "challenger"): "challenger"}
        for _ in range(300):
            with spy.lock:
                if set(topics) <= set(spy.seen):
                    break
            submitter.wait_for("daemon_started")  # (raises if the daemon died meanwhile)
            threading.Event().wait(0.05)
        with spy.lock:
            assert set(topics) <= set(spy.seen), spy.seen
            for topic, role in topics.items():
                status = NodeStatus.model_validate(spy.seen[topic])
                assert status.role == role and status.node == role and status.head >= 1
    finally:
        spy.stop()


async def test_embedded_broker_round_trips_and_refuses_a_taken_port() -> None:
    async with EmbeddedBroker() as broker:
        with pytest.raises(EmbeddedBrokerError, match="did not start"):
            await EmbeddedBroker(broker.port).start()
        async with bus_pair(broker.port) as (talker, received):
            status = NodeStatus(node="talker", role="submitter", address="0xabc", head=5, games_in_flight=0, time=1.0)
            talker.publish(status_topic(31337, "talker"), status, retain=True)
            await wait_until(lambda: bool(received))
    assert received == [(status_topic(31337, "talker"), status.model_dump_json().encode())]
