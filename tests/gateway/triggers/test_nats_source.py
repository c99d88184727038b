"""NATS subjects as topics, on a real nats-server: every subscribing function gets a
call per message with the subject and headers; through JetStream, a connector killed
mid-stream loses no message and doubles none."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats
from nats.js.api import StreamConfig

from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import CALLS_STREAM
from gateway.async_calls.messages import QueuedCall, call_subject
from gateway.config import AsyncConfig
from gateway.providers.base import Function
from gateway.triggers.connectors import TopicRouter
from gateway.triggers.firing import Firing, queue_firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.nats_source import NatsConnector, durable_name
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess


def subscribers(topic: str) -> list[Function]:
    return [
        Function("a", "faas/a", 1, "tasks.a", labels={"com.faas.trigger.in.topic": topic}),
        Function("b", "faas/b", 1, "tasks.b", labels={"com.faas.annotation.topic": topic}),
    ]


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_router(
    broker: Broker, functions: list[Function], fire: Callable[[Firing], Awaitable[object]],
    ack_wait: float = 30.0,
) -> tuple[asyncio.Task[None], asyncio.Event]:  # fmt: skip
    stop = asyncio.Event()
    router = TopicRouter(lambda: functions, fire, TriggerMetrics(), max_inflight=8)
    connector = NatsConnector(broker, ack_wait=ack_wait, max_inflight=8)
    return asyncio.create_task(router.run(connector, stop)), stop


def test_a_core_subject_calls_every_subscriber_with_its_headers(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port)

    async def scenario() -> tuple[dict[str, int], QueuedCall]:
        async with connected_broker(config) as broker:
            task, stop = start_router(broker, subscribers("events"), fire_into(broker, config))
            publisher = await nats.connect(config.nats_url)

            # Published until the connector follows the subject (core NATS keeps nothing).
            async def three_each() -> bool:
                await publisher.publish("events", b"hello", headers={"Trace-Id": "t-1"})
                return (await broker.queue.pending()).get("a", 0) >= 3

            await until(three_each, "three calls of a")
            stop.set()
            await task
            js = publisher.jetstream()
            raw = await js.get_last_msg(CALLS_STREAM, call_subject("b"))
            await publisher.close()
            call = QueuedCall.from_nats(raw.headers, raw.data or b"")
            pending = await broker.queue.pending()
            return pending, call

    pending, call = asyncio.run(scenario())
    assert pending["a"] >= 3
    assert pending["b"] == pending["a"]
    headers = dict(call.headers)
    assert (call.method, call.path, call.body) == ("POST", "/", b"hello")
    assert headers["X-Topic"] == "events"
    assert headers["Trace-Id"] == "t-1"
    assert headers["X-Connector"] == "faas-triggers/nats"
    assert headers["X-Trigger"] == "topic"  # b's, from OpenFaaS's annotation


def fire_into(broker: Broker, config: AsyncConfig) -> Callable[[Firing], Awaitable[object]]:
    async def fire(firing: Firing) -> object:
        return await queue_firing(broker, config, firing)

    return fire


def test_a_connector_killed_mid_stream_loses_and_doubles_nothing(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port)
    messages = 30

    async def scenario() -> dict[str, int]:
        async with connected_broker(config) as broker:
            publisher = await nats.connect(config.nats_url)
            js = publisher.jetstream()
            await js.add_stream(StreamConfig(name="ORDERS", subjects=["orders.>"]))
            functions = subscribers("orders.new")
            stored = 0
            hang = asyncio.Event()

            async def dies_after_some(firing: Firing) -> object:
                nonlocal stored
                if stored >= 25:  # the process is killed here, calls in hand
                    await hang.wait()
                stored += 1
                return await queue_firing(broker, config, firing)

            first, _ = start_router(broker, functions, dies_after_some, ack_wait=1.0)
            for n in range(messages):
                await js.publish("orders.new", b"order %d" % n)

            async def stalled() -> bool:
                return stored >= 25

            await until(stalled, "the first connector to stall")
            first.cancel()  # killed: what it held is not acked
            with contextlib.suppress(asyncio.CancelledError):
                await first
            second, stop = start_router(broker, functions, fire_into(broker, config), 1.0)

            async def all_acked() -> bool:
                info = await js.consumer_info("ORDERS", durable_name("orders.new"))
                return bool(info.num_pending == 0 and info.num_ack_pending == 0)

            await until(all_acked, "every message acked")
            stop.set()
            await second
            await publisher.close()
            return await broker.queue.pending()

    assert asyncio.run(scenario()) == {"a": messages, "b": messages}


def test_a_stream_made_later_is_read_through_it_and_faas_subjects_never(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port)

    async def scenario() -> tuple[set[str], set[str], set[str], set[str]]:
        async with connected_broker(config) as broker:
            connector = NatsConnector(broker, stream_recheck=0.0)
            await connector.subscribe(frozenset({"late", "faas.async.call.x"}))
            before = (set(connector._core), set(connector._pulls))
            client = await nats.connect(config.nats_url)
            await client.jetstream().add_stream(StreamConfig(name="LATE", subjects=["late"]))
            await client.close()
            await connector.subscribe(frozenset({"late", "faas.async.call.x"}))
            after = (set(connector._core), set(connector._pulls))
            await connector.close()
            return (*before, *after)

    core, pulled, core_after, pulled_after = asyncio.run(scenario())
    assert (core, pulled) == ({"late"}, set())
    assert (core_after, pulled_after) == (set(), {"late"})
