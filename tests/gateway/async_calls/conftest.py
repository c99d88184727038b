"""Fixtures: a fresh nats-server per test, a scripted upstream, a gateway and a consumer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import BasicAuthCredentials
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    ScriptedUpstream,
    async_config,
    function,
    start_nats,
)
from tests.gateway.harness import BackgroundProcess, GatewayThread

CREDENTIALS = BasicAuthCredentials("admin", "secret")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[BackgroundProcess]:
    """A nats-server with JetStream for one test."""
    with start_nats(tmp_path / "jetstream") as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """The function's replica (and the callback receiver, under /callback)."""
    server = ScriptedUpstream()
    yield server
    server.close()


@pytest.fixture
def provider(upstream: ScriptedUpstream) -> StaticProvider:
    """`echo` (default retries, short waits) and `flaky` (3 attempts in all)."""
    fast = {"com.faas.retry.min_wait": "50ms", "com.faas.retry.max_wait": "200ms"}
    return StaticProvider(
        [
            function("echo", upstream.port, fast),
            function("flaky", upstream.port, {**fast, "com.faas.retry.attempts": "3"}),
        ]
    )


@pytest.fixture
def gateway(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream, provider: StaticProvider
) -> Iterator[GatewayThread]:
    """A gateway with async calls on the test's nats-server (callbacks: the upstream)."""
    config = async_config(
        nats_server.port, callback_allowlist=(f"{upstream.url}/callback",), max_body=1000
    )
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as running:
        yield running


@pytest.fixture
def consumer(gateway: GatewayThread, provider: StaticProvider) -> Iterator[ConsumerThread]:
    """A queue consumer in this process, over the gateway's functions."""
    with ConsumerThread(gateway.config, provider.functions()) as running:
        yield running
