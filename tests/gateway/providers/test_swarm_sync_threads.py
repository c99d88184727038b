"""`SyncThreads` through `SwarmProvider` on the fake engine: refreshes share a full sync."""

from __future__ import annotations

import asyncio
import concurrent.futures

from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs


def test_refreshes_queued_together_share_one_sync(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    """A burst of management writes, each refreshing first, costs one listing for all
    those already waiting, and each sees what was written before it asked."""
    waiting: list[concurrent.futures.Future[bool]] = [concurrent.futures.Future() for _ in range(3)]
    provider._sync._queue.put({"Action": "update", "Actor": {"ID": "gone"}})
    provider._sync._queue.put(waiting[1])
    provider._sync._queue.put(waiting[2])
    taken, stop = provider._sync._take_queued(waiting[0])
    assert taken == waiting
    assert not stop
    engine.create_service(service_attrs("catservice"), emit=False)

    async def burst() -> None:
        await asyncio.gather(*(provider.refresh() for _ in range(20)))

    asyncio.run(burst())
    assert provider.lookup("catservice") is not None
