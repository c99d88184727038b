"""A call runs once unless a consumer really died: the heartbeat lasts until the ack, the
consumer follows `GATEWAY_ASYNC_ACK_WAIT`, and a finished call delivered again is not
run again, nor is a repeated idempotency key past the window (review of issue 19,
findings 5, 6 and 8)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.async_calls.call_queue import CALLS_STREAM, QUEUE_CONSUMER
from gateway.async_calls.messages import CallStatus, QueuedCall
from gateway.async_calls.status_store import StatusStore
from gateway.errors import BrokerFull
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    Received,
    Reply,
    ScriptedUpstream,
    async_config,
    connected_broker,
    queued_calls,
)
from tests.gateway.async_calls.test_async_calls import enqueue, wait_for_state
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import wait_for


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
        ConsumerThread(gateway.config, provider.functions()),
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
        async with connected_broker(async_config(nats_server.port)) as broker:
            first = await broker.queue.subscribe(2.0, max_ack_pending=100)
            await first.unsubscribe()
            await broker.queue.subscribe(7.0, max_ack_pending=100)
            client = broker._client
            assert client is not None
            info = await client.jetstream().consumer_info(CALLS_STREAM, QUEUE_CONSUMER)
            assert info.config.ack_wait == 7.0

    asyncio.run(scenario())


def test_a_finished_call_delivered_again_is_acked_not_run(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream, provider: StaticProvider
) -> None:
    config = async_config(nats_server.port)
    call = QueuedCall("finished-1", "echo", "POST", "/", (), b"once", started_at=time.time())

    async def redeliver_a_finished_call() -> None:
        # As after a consumer recorded the outcome and its ack was lost.
        async with connected_broker(config) as broker:
            await broker.statuses.put(CallStatus("finished-1", "echo", "succeeded", attempt=1))
            await broker.queue.enqueue(call, dedupe_id="finished-1")

    asyncio.run(redeliver_a_finished_call())
    with (
        GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as gateway,
        ConsumerThread(gateway.config, provider.functions()),
    ):
        wait_for(lambda: queued_calls(config) == 0, "the consumer to take the call")
        record = wait_for_state(gateway, "finished-1", "succeeded")
    assert upstream.received == []
    assert record["attempt"] == 1


def test_an_idempotency_key_repeated_after_the_window_is_not_queued_again(
    nats_server: BackgroundProcess, provider: StaticProvider
) -> None:
    window = 1.0
    config = async_config(nats_server.port, idempotency_window=window)

    key = {"X-Idempotency-Key": "order-44"}
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as gateway:
        first = enqueue(gateway, "/async-function/echo", b"a", **key)
        assert first.status_code == 202
        time.sleep(window * 3)  # past JetStream's de-duplication window
        again = enqueue(gateway, "/async-function/echo", b"a", **key)
        assert again.status_code == 202
        assert again.headers["X-Call-Id"] == first.headers["X-Call-Id"]
    assert queued_calls(config) == 1


def test_a_call_whose_final_record_finds_the_bucket_full_is_acked_not_run_again(
    gateway: GatewayThread,
    upstream: ScriptedUpstream,
    provider: StaticProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its callback went out: running it again for want of a record would be worse.
    real_put = StatusStore.put

    async def full_at_the_end(self: StatusStore, status: CallStatus) -> None:
        if status.state in ("succeeded", "failed"):
            raise BrokerFull("message broker full: status: maximum bytes exceeded")
        await real_put(self, status)

    monkeypatch.setattr(StatusStore, "put", full_at_the_end)
    callback = {"X-Callback-Url": f"{upstream.url}/callback"}
    assert enqueue(gateway, "/async-function/echo", b"once", **callback).status_code == 202
    with ConsumerThread(gateway.config, provider.functions()):
        wait_for(lambda: upstream.requests_to("/callback"), "the callback")
        wait_for(lambda: queued_calls(gateway.config.async_calls) == 0, "the call acked")
    assert [request.body for request in upstream.requests_to("/")] == [b"once", b"once"]
    assert len(upstream.requests_to("/callback")) == 1
