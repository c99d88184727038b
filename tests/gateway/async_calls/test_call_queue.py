"""`CallQueue`: what the autoscaler reads of the async queue (calls per function), and the
acked calls a restarted nats-server brought back."""

from __future__ import annotations

import asyncio

import nats
from nats.js.api import StreamConfig

from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import purge_below_ack_floor
from gateway.async_calls.messages import QueuedCall
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess
from tests.support import free_port


def call(call_id: str, function: str) -> QueuedCall:
    return QueuedCall(call_id, function, "POST", "/", (), b"body", started_at=1.0)


def test_calls_no_consumer_took_are_counted_per_function(nats_server: BackgroundProcess) -> None:
    async def scenario() -> dict[str, int]:
        async with connected_broker(async_config(nats_server.port)) as broker:
            assert await broker.queue.queued_by_function() == {}
            for n in range(3):
                await broker.queue.enqueue(call(f"echo-{n}", "echo"), dedupe_id=f"echo-{n}")
            await broker.queue.enqueue(call("dotted-1", "a.b"), dedupe_id="dotted-1")
            return await broker.queue.queued_by_function()

    queued = asyncio.run(scenario())
    assert queued == {"echo": 3, "a_b": 1}


def test_a_broker_not_connected_reports_no_queued_calls() -> None:
    async def scenario() -> dict[str, int]:
        broker = Broker(async_config(free_port()), name="test")
        return await broker.queue.queued_by_function()

    assert asyncio.run(scenario()) == {}


def test_acked_messages_left_in_a_stream_are_purged_and_the_rest_kept(
    nats_server: BackgroundProcess,
) -> None:
    # A stream that keeps acked messages (limits retention) stands in for the calls
    # stream after nats-server 2.9 brought acked calls back at a restart.
    async def scenario() -> tuple[int, int, list[bytes]]:
        client = await nats.connect(f"nats://127.0.0.1:{nats_server.port}")
        try:
            js = client.jetstream()
            assert await purge_below_ack_floor(js, "LEFTOVERS", "worker") == 0  # no stream
            await js.add_stream(StreamConfig(name="LEFTOVERS", subjects=["left.>"]))
            assert await purge_below_ack_floor(js, "LEFTOVERS", "worker") == 0  # no consumer
            for n in range(5):
                await js.publish(f"left.f{n}", str(n).encode())
            pull = await js.pull_subscribe("left.>", durable="worker", stream="LEFTOVERS")
            for message in await pull.fetch(3, timeout=5):
                await message.ack_sync()
            dropped = await purge_below_ack_floor(js, "LEFTOVERS", "worker")
            again = await purge_below_ack_floor(js, "LEFTOVERS", "worker")
            rest = [message.data for message in await pull.fetch(5, timeout=2)]
            return dropped, again, rest
        finally:
            await client.close()

    assert asyncio.run(scenario()) == (3, 0, [b"3", b"4"])
