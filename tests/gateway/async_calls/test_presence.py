"""`ConsumerPresence`: the queue consumers that run, as the autoscaler counts them."""

from __future__ import annotations

import asyncio

from gateway.config import GatewayConfig
from tests.gateway.async_calls.harness import WorkerThread, async_config, connected_broker
from tests.gateway.harness import BackgroundProcess
from tests.support import wait_for


def test_running_workers_are_counted_until_they_stop(nats_server: BackgroundProcess) -> None:
    async def scenario() -> list[int]:
        async with connected_broker(async_config(nats_server.port)) as broker:
            seen = [await broker.presence.running()]
            for worker in ("w1", "w2", "w1"):  # w1 again: still one worker
                await broker.presence.announce(worker)
            seen.append(await broker.presence.running())
            await broker.presence.withdraw("w1")
            seen.append(await broker.presence.running())
            return seen

    assert asyncio.run(scenario()) == [0, 2, 1]


def test_a_queue_worker_is_counted_while_it_runs(nats_server: BackgroundProcess) -> None:
    def live_workers() -> int:
        async def count() -> int:
            async with connected_broker(async_config(nats_server.port)) as broker:
                return await broker.presence.running()

        return asyncio.run(count())

    config = GatewayConfig(async_calls=async_config(nats_server.port))
    with WorkerThread(config, []):
        wait_for(lambda: live_workers() == 1, "the worker to announce itself", timeout=20)
    assert live_workers() == 0  # a clean stop withdraws it
