"""The fake engine and a provider started on it, shared by the SwarmProvider tests; a
module with an engine of its own (already holding a service or a secret) overrides
`engine`, and `provider` is started on that one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.providers.swarm import sync_threads
from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import FakeDockerClient


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider retries the engine at the tests' pace, not production's."""
    monkeypatch.setattr(sync_threads, "_RETRY_MIN", 0.01)
    monkeypatch.setattr(sync_threads, "_RETRY_MAX", 0.05)


@pytest.fixture
def engine() -> FakeDockerClient:
    return FakeDockerClient()


@pytest.fixture
def provider(engine: FakeDockerClient) -> Iterator[SwarmProvider]:
    """A started provider on the fake engine, closed afterwards."""
    provider = SwarmProvider(client=engine)
    asyncio.run(provider.start())
    yield provider
    asyncio.run(asyncio.wait_for(provider.close(), timeout=10))
