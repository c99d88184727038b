"""MQTT topics as triggers on a real Mosquitto: every subscribing function gets a call
per message, with its topic; a connector killed mid-stream loses no message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiomqtt
import nats
import pytest

from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import CALLS_STREAM
from gateway.async_calls.messages import QueuedCall
from gateway.config import AsyncConfig
from gateway.providers.base import Function
from gateway.triggers.connectors import TopicRouter
from gateway.triggers.firing import Firing, queue_firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.mqtt_source import MqttConnector, broker_address
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess
from tests.support import free_port, require_tool


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[BackgroundProcess]:
    """A Mosquitto broker on 127.0.0.1, anonymous, for one test."""
    binary = require_tool("mosquitto", "scripts/mosquitto.sh")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    with BackgroundProcess([binary, "-c", str(config)], port) as broker:
        yield broker


def subscribers(topic: str) -> list[Function]:
    return [
        Function("a", "faas/a", 1, "tasks.a", labels={"com.faas.trigger.in.topic": topic}),
        Function("b", "faas/b", 1, "tasks.b", labels={"com.faas.annotation.topic": topic}),
    ]


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def stored_calls(config: AsyncConfig) -> list[QueuedCall]:
    """Every call the calls stream holds (none is consumed in these tests)."""
    client = await nats.connect(config.nats_url)
    try:
        js = client.jetstream()
        state = (await js.stream_info(CALLS_STREAM)).state
        calls = []
        for sequence in range(state.first_seq, state.last_seq + 1):
            raw = await js.get_msg(CALLS_STREAM, sequence)
            calls.append(QueuedCall.from_nats(raw.headers, raw.data or b""))
        return calls
    finally:
        await client.close()


def start(
    broker: Broker, port: int, functions: list[Function],
    fire: Callable[[Firing], Awaitable[object]], leading: Callable[[], bool] = lambda: True,
) -> tuple[asyncio.Task[None], asyncio.Event]:  # fmt: skip
    stop = asyncio.Event()
    router = TopicRouter(lambda: functions, fire, TriggerMetrics(), max_inflight=8)
    connector = MqttConnector(f"mqtt://127.0.0.1:{port}", client_id="test-triggers",
                              leading=leading)  # fmt: skip
    return asyncio.create_task(router.run(connector, stop)), stop


def test_the_url_is_checked() -> None:
    assert broker_address("mqtt://mosquitto") == ("mosquitto", 1883)
    assert broker_address("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884)
    with pytest.raises(ValueError, match="mqtt://host"):
        broker_address("tcp://mosquitto")


def test_aiomqtt_still_keeps_its_paho_client_where_we_set_manual_acks() -> None:
    async def made() -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", 1)

    client = asyncio.run(made())
    assert callable(client._client.manual_ack_set)
    assert callable(client._client.ack)


def test_a_publish_calls_every_subscriber_and_a_killed_connector_loses_nothing(
    nats_server: BackgroundProcess, mosquitto: BackgroundProcess
) -> None:
    config = async_config(nats_server.port)
    count = 20

    async def scenario() -> list[QueuedCall]:
        async with connected_broker(config) as broker:
            functions = subscribers("sensors/+/temp")
            stored = 0
            hang = asyncio.Event()

            async def dies_after_some(firing: Firing) -> object:
                nonlocal stored
                if stored >= 15:
                    await hang.wait()  # killed here, messages in hand
                stored += 1
                return await queue_firing(broker, config, firing)

            async def fire(firing: Firing) -> object:
                return await queue_firing(broker, config, firing)

            first, _ = start(broker, mosquitto.port, functions, dies_after_some)
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as publisher:
                # Until the connector's session has the subscription (then it keeps it).
                async def subscribed() -> bool:
                    await publisher.publish("sensors/probe/temp", b"probe", qos=1)
                    return stored > 0

                await until(subscribed, "the connector's subscription")
                for n in range(count):
                    await publisher.publish(f"sensors/{n}/temp", b"reading %d" % n, qos=1)

                async def stalled() -> bool:
                    return stored >= 15

                await until(stalled, "the first connector to stall")
                first.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await first
                second, stop = start(broker, mosquitto.port, functions, fire)

                async def all_in() -> bool:
                    calls = await stored_calls(config)
                    bodies = {(c.function, c.body) for c in calls}
                    return all((f, b"reading %d" % n) in bodies
                               for f in "ab" for n in range(count))  # fmt: skip

                await until(all_in, "every reading stored for a and b")
                stop.set()
                await second
            return await stored_calls(config)

    calls = asyncio.run(scenario())
    reading = next(c for c in calls if c.body == b"reading 3" and c.function == "a")
    headers = dict(reading.headers)
    assert headers["X-Topic"] == "sensors/3/temp"
    assert headers["X-Connector"] == "faas-triggers/mqtt"


def test_only_the_leader_holds_the_session_and_the_next_one_gets_what_came_meanwhile(
    nats_server: BackgroundProcess, mosquitto: BackgroundProcess
) -> None:
    config = async_config(nats_server.port)
    leads = {"first": True, "second": False}
    got: dict[str, list[bytes]] = {"first": [], "second": []}

    async def scenario() -> None:
        async with connected_broker(config) as broker:
            functions = subscribers("orders")[:1]

            def recorder(name: str) -> Callable[[Firing], Awaitable[object]]:
                async def fire(firing: Firing) -> object:
                    got[name].append(firing.body)
                    return await queue_firing(broker, config, firing)

                return fire

            tasks = [start(broker, mosquitto.port, functions, recorder(name),
                           lambda name=name: leads[name])  # type: ignore[misc]
                     for name in leads]  # fmt: skip
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as publisher:

                async def subscribed() -> bool:
                    await publisher.publish("orders", b"probe", qos=1)
                    return bool(got["first"])

                await until(subscribed, "the leader's subscription")
                leads["first"] = False
                await asyncio.sleep(2.5)  # it looks every second: gone by now
                for n in range(10):
                    await publisher.publish("orders", b"order %d" % n, qos=1)
                await asyncio.sleep(1.5)  # nobody leads: the broker keeps them
                assert got["second"] == []
                leads["second"] = True

                async def all_in() -> bool:
                    return {b"order %d" % n for n in range(10)} <= set(got["second"])

                await until(all_in, "every order at the new leader")
            for task, stop in tasks:
                stop.set()
                await task

    asyncio.run(scenario())
    assert not any(body.startswith(b"order") for body in got["first"])
