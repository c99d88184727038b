"""What the autoscaler reads of the async queue: calls per function, from the broker."""

from __future__ import annotations

import asyncio

from gateway.async_calls.broker import Broker
from gateway.async_calls.messages import QueuedCall
from tests.gateway.async_calls.harness import async_config
from tests.gateway.harness import BackgroundProcess
from tests.support import free_port


def call(call_id: str, function: str) -> QueuedCall:
    return QueuedCall(call_id, function, "POST", "/", (), b"body", started_at=1.0)


def test_calls_no_worker_took_are_counted_per_function(nats_server: BackgroundProcess) -> None:
    async def scenario() -> dict[str, int]:
        broker = Broker(async_config(nats_server.port), name="test")
        await broker.start()
        try:
            assert await broker.wait_ready(10)
            assert await broker.queued_by_function() == {}
            for n in range(3):
                await broker.enqueue(call(f"echo-{n}", "echo"), dedupe_id=f"echo-{n}")
            await broker.enqueue(call("dotted-1", "a.b"), dedupe_id="dotted-1")
            return await broker.queued_by_function()
        finally:
            await broker.close()

    queued = asyncio.run(scenario())
    assert queued == {"echo": 3, "a_b": 1}


def test_a_broker_not_connected_reports_no_queued_calls() -> None:
    async def scenario() -> dict[str, int]:
        broker = Broker(async_config(free_port()), name="test")
        return await broker.queued_by_function()

    assert asyncio.run(scenario()) == {}
