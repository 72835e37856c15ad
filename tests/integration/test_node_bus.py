"""The MQTT bus with a real mosquitto: messages round-trip on the documented topics, and a dispute whose broker
dies midway is still won by the honest side (the chain, not the bus, is the source of truth).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from fixtures_node import NodeNet, ask, bus_pair, wait_until
from opml.chain.bindings import CoordinatorContract, SubmissionStatus
from opml.node.broker import Mosquitto
from opml.node.bus import Bus, DisputeNote, dispute_topic


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    server = Mosquitto().start()
    try:
        yield server
    finally:
        server.stop()


async def test_notes_round_trip_on_their_topics(broker: Mosquitto) -> None:
    async with bus_pair(broker.port) as (talker, received):
        note = DisputeNote(game_id=7, request_id=3, phase="PICK", depth=2, lo=0, hi=4, mover="0xabc", action="Pick")
        talker.publish(dispute_topic(31337, 7), note)
        await wait_until(lambda: bool(received))
    assert received, "no message arrived"
    topic, payload = received[0]
    assert topic == "opml/31337/disputes/7"
    assert DisputeNote.model_validate_json(payload) == note


async def test_bus_without_broker_keeps_retrying_and_drops_nothing_else() -> None:
    from opml.chain.anvil import free_port

    bus = Bus("127.0.0.1", free_port(), 31337, "lonely", retry_s=0.05)
    task = asyncio.create_task(bus.run())
    bus.publish(dispute_topic(31337, 1), DisputeNote(game_id=1, request_id=1, phase="OPEN", depth=0, lo=0, hi=1,
                                                     mover="0x0", action="OpenLevel"))
    await asyncio.sleep(0.3)
    assert not task.done() and not bus.connected  # still trying, never crashed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_broker_killed_mid_dispute_the_honest_challenger_still_wins(net: NodeNet, broker: Mosquitto) -> None:
    coordinator = CoordinatorContract(net.w3, net.deployment.coordinator)
    submitter = net.daemon("submitter", faults=["lie:0.1.0:16"], broker_url=broker.url)
    challenger = net.daemon("challenger", broker_url=broker.url)
    seen: list[str] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    spy.on_message = lambda _c, _u, message: seen.append(message.topic)
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("opml/31337/#")
    spy.loop_start()
    submitter.wait_for("bus_connected")
    challenger.wait_for("bus_connected")
    ask(net, b"bus test")
    (game,) = challenger.wait_for("challenged")
    challenger.wait_for("move_sent", count=2)
    spy.loop_stop()
    broker.stop()  # mid-dispute
    assert f"opml/31337/disputes/{game['game']}" in seen and "opml/31337/submissions" in seen, seen
    (over,) = challenger.wait_for("game_over", lambda e: e["game"] == game["game"], timeout=90)
    assert over["won"]
    assert coordinator.get_submission(game["submission"]).status is SubmissionStatus.SLASHED
    assert challenger.events("bus_disconnected"), "the daemon did not notice the broker going away"
    assert json.dumps(challenger.events("daemon_started")[0]["broker"]) == json.dumps(broker.url)
