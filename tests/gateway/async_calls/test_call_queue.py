"""`CallQueue`: what the autoscaler reads of the async queue (calls per function), and the
acked calls a restarted nats-server brought back, and the stream's bounds."""

from __future__ import annotations

import asyncio
import dataclasses

import nats
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import CALLS_STREAM, purge_below_ack_floor
from gateway.async_calls.connection import BYTES_HEADROOM
from gateway.async_calls.messages import CALL_SUBJECT_PREFIX, QueuedCall
from gateway.config import AsyncConfig
from gateway.errors import BrokerFull, GatewayError, TooManyRequests
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


def test_a_calls_stream_an_older_gateway_made_gets_the_bounds_and_keeps_its_calls(
    nats_server: BackgroundProcess,
) -> None:
    # The calls stream as gateways before the bounds made it: unbounded, holding 4 calls
    # of one function, more than the bounds below allow.
    async def scenario() -> tuple[list[int], int, dict[str, int]]:
        client = await nats.connect(f"nats://127.0.0.1:{nats_server.port}")
        try:
            js = client.jetstream()
            await js.add_stream(
                StreamConfig(
                    name=CALLS_STREAM,
                    subjects=[CALL_SUBJECT_PREFIX + ">"],
                    retention=RetentionPolicy.WORK_QUEUE,
                    storage=StorageType.FILE,
                )
            )
            for n in range(4):
                await js.publish(CALL_SUBJECT_PREFIX + "echo", b"call %d" % n)
        finally:
            await client.close()
        config = async_config(nats_server.port, function_max_calls=2, queue_max_calls=3)
        async with connected_broker(config) as broker:
            js = broker.jetstream()
            bounds = (await js.stream_info(CALLS_STREAM)).config
            with pytest.raises(TooManyRequests, match="GATEWAY_ASYNC_FUNCTION_MAX_CALLS"):
                await broker.queue.enqueue(call("one-more", "echo"), dedupe_id="one-more")
            return (
                [
                    bounds.max_msgs or 0,
                    bounds.max_msgs_per_subject,
                    bounds.discard == DiscardPolicy.NEW,
                ],
                bounds.max_bytes or 0,
                await broker.queue.pending(),
            )

    (max_calls, per_function, discards_new), max_bytes, pending = asyncio.run(scenario())
    # Not below what it holds (a server may trim to lowered bounds): nothing accepted lost.
    assert (max_calls, per_function, discards_new) == (4, 4, True)
    assert max_bytes == AsyncConfig().queue_max_bytes + BYTES_HEADROOM
    assert pending == {"echo": 4}


def test_the_bounds_reach_a_stream_made_with_other_bounds(nats_server: BackgroundProcess) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with connected_broker(async_config(nats_server.port)):
            pass
        config = async_config(nats_server.port, queue_max_calls=50, queue_max_bytes=10**6)
        async with connected_broker(dataclasses.replace(config, function_max_calls=5)) as broker:
            bounds = (await broker.jetstream().stream_info(CALLS_STREAM)).config
            return bounds.max_msgs or 0, bounds.max_bytes or 0, bounds.max_msgs_per_subject

    assert asyncio.run(scenario()) == (50, 10**6 + BYTES_HEADROOM, 5)


def test_calls_queued_at_once_keep_the_bounds_and_report_each_outcome(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port, queue_max_bytes=3000, function_max_calls=2)

    async def scenario() -> tuple[list[bool | GatewayError], dict[str, int]]:
        async with connected_broker(config) as broker:
            await broker.queue.enqueue(call("first", "echo"), dedupe_id="first")
            batch = [(call("first", "echo"), "first")]  # a repeat: JetStream drops it
            batch += [(call("second", "echo"), "second"), (call("third", "echo"), "third")]
            batch += [(call(f"other-{n}", f"other{n}"), f"other-{n}") for n in range(40)]
            messages = [broker.queue.message(queued, dedupe_id) for queued, dedupe_id in batch]
            outcomes = await broker.queue.enqueue_many(messages)
            return outcomes, await broker.queue.pending()

    outcomes, pending = asyncio.run(scenario())
    assert outcomes[:2] == [True, False]  # the repeat, then the function's second call
    third = outcomes[2]
    assert isinstance(third, TooManyRequests)  # the function's bound: 2 calls
    assert "GATEWAY_ASYNC_FUNCTION_MAX_CALLS" in third.message
    others = outcomes[3:]
    refused = [outcome for outcome in others if isinstance(outcome, BrokerFull)]
    assert refused
    assert all("GATEWAY_ASYNC_QUEUE_MAX_BYTES" in e.message for e in refused)
    queued = len(others) - len(refused)
    assert others[:queued] == [False] * queued  # the byte bound refused the last ones
    assert pending["echo"] == 2
    assert sum(pending.values()) == 2 + queued


def test_an_empty_batch_asks_the_broker_nothing() -> None:
    broker = Broker(async_config(free_port()), name="test")  # never connected
    assert asyncio.run(broker.queue.enqueue_many([])) == []
