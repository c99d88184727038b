"""A call runs once unless a worker really died: the heartbeat lasts until the ack, the
consumer follows `GATEWAY_ASYNC_ACK_WAIT`, and a finished call delivered again is not
run again (review of issue 19, findings 5 and 6)."""

from __future__ import annotations

import asyncio

from gateway.async_calls.broker import CALLS_STREAM, WORKER_CONSUMER, Broker
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS
from tests.gateway.async_calls.harness import (
    Received,
    Reply,
    ScriptedUpstream,
    WorkerThread,
    async_config,
)
from tests.gateway.async_calls.test_async_calls import enqueue, wait_for_state
from tests.gateway.harness import BackgroundProcess, GatewayThread


def test_a_slow_callback_does_not_run_the_call_twice(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream, provider: StaticProvider
) -> None:
    ack_wait = 1.0

    def slow_callback(request: Received, seen: int) -> Reply:
        if request.path.startswith("/callback"):
            upstream.release.wait(ack_wait * 3.5)  # longer than ack_wait, heartbeats go on
        return 200, {}, b"done"

    upstream.script = slow_callback
    config = async_config(
        nats_server.port, ack_wait=ack_wait, callback_allowlist=(f"{upstream.url}/callback",)
    )
    with (
        GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as gateway,
        WorkerThread(gateway.config, provider.functions()),
    ):
        callback = {"X-Callback-Url": f"{upstream.url}/callback/1"}
        response = enqueue(gateway, "/async-function/echo", b"hello", **callback)
        record = wait_for_state(gateway, response.headers["X-Call-Id"], "succeeded")
    assert record["attempt"] == 1
    calls = [r for r in upstream.received if not r.path.startswith("/callback")]
    assert len(calls) == 1
    assert len(upstream.requests_to("/callback")) == 1


def test_subscribing_brings_the_consumer_to_the_configured_ack_wait(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> None:
        broker = Broker(async_config(nats_server.port), name="test")
        await broker.start()
        try:
            assert await broker.wait_ready(10)
            first = await broker.subscribe(2.0, max_ack_pending=100)
            await first.unsubscribe()
            await broker.subscribe(7.0, max_ack_pending=100)
            client = broker._client
            assert client is not None
            info = await client.jetstream().consumer_info(CALLS_STREAM, WORKER_CONSUMER)
            assert info.config.ack_wait == 7.0
        finally:
            await broker.close()

    asyncio.run(scenario())
