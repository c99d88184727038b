"""Fixtures: a fresh nats-server per test, a scripted upstream, a gateway and a consumer."""

from __future__ import annotations

import uuid
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
from tests.support import wait_for

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
        wait_for(lambda: broker_answers(running), "the gateway's broker connection", timeout=30)
        yield running


def broker_answers(gateway: GatewayThread) -> bool:
    """The gateway reached the broker: an unknown call's status is 404, not 503. The
    broker connects in the background, so on a busy machine a test's first call could
    otherwise find it not connected yet."""
    with gateway.client() as client:
        response = client.get(
            f"/system/async/{uuid.UUID(int=0)}", auth=(CREDENTIALS.user, CREDENTIALS.password)
        )
    return response.status_code == 404


@pytest.fixture
def consumer(gateway: GatewayThread, provider: StaticProvider) -> Iterator[ConsumerThread]:
    """A queue consumer in this process, over the gateway's functions."""
    with ConsumerThread(gateway.config, provider.functions()) as running:
        yield running
