"""`ConsumerPresence`: the queue consumers that run, as the autoscaler counts them."""

from __future__ import annotations

import asyncio

from gateway.config import GatewayConfig
from tests.gateway.async_calls.harness import ConsumerThread, async_config, connected_broker
from tests.gateway.harness import BackgroundProcess
from tests.support import wait_for


def test_running_consumers_are_counted_until_they_stop(nats_server: BackgroundProcess) -> None:
    async def scenario() -> list[int]:
        async with connected_broker(async_config(nats_server.port)) as broker:
            seen = [await broker.presence.running()]
            for consumer in ("w1", "w2", "w1"):  # w1 again: still one consumer
                await broker.presence.announce(consumer)
            seen.append(await broker.presence.running())
            await broker.presence.withdraw("w1")
            seen.append(await broker.presence.running())
            return seen

    assert asyncio.run(scenario()) == [0, 2, 1]


def test_a_queue_consumer_is_counted_while_it_runs(nats_server: BackgroundProcess) -> None:
    def running_consumers() -> int:
        async def count() -> int:
            async with connected_broker(async_config(nats_server.port)) as broker:
                return await broker.presence.running()

        return asyncio.run(count())

    config = GatewayConfig(async_calls=async_config(nats_server.port))
    with ConsumerThread(config, []):
        wait_for(lambda: running_consumers() == 1, "the consumer to announce itself", timeout=20)
    assert running_consumers() == 0  # a clean stop withdraws it
