"""The broker connection stays usable: messages that fit the server's `max_payload`,
a reconnect after the server closed the connection, and the consumer's `/healthz`
(review of issue 19, finding 1)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from nats.js.api import DiscardPolicy, StreamConfig

from gateway.async_calls.broker import Broker
from gateway.errors import BrokerFull, BrokerUnavailable, GatewayError
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    ScriptedUpstream,
    async_config,
    connected_broker,
)
from tests.gateway.async_calls.test_async_calls import AUTH, enqueue, wait_for_state
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import free_port, wait_for

NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024


@pytest.fixture
def roomy_gateway(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream, provider: StaticProvider
) -> Iterator[GatewayThread]:
    """A gateway whose own body limit (2 MiB) is over the server's max_payload (1 MiB)."""
    config = async_config(nats_server.port, max_body=2 * NATS_DEFAULT_MAX_PAYLOAD)
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as running:
        yield running


def test_a_body_near_the_servers_max_payload_is_413_and_the_broker_stays_up(
    roomy_gateway: GatewayThread,
) -> None:
    response = enqueue(
        roomy_gateway, "/async-function/echo", b"x" * (NATS_DEFAULT_MAX_PAYLOAD - 100)
    )
    assert response.status_code == 413, response.text
    assert "max_payload" in response.text
    assert enqueue(roomy_gateway, "/async-function/echo").status_code == 202


def test_the_largest_call_accepted_can_still_be_dead_lettered(
    roomy_gateway: GatewayThread, provider: StaticProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script = lambda request, seen: (503, {}, b"no")
    refused = enqueue(roomy_gateway, "/async-function/flaky", b"x" * NATS_DEFAULT_MAX_PAYLOAD)
    assert refused.status_code == 413
    found = re.search(r"takes (\d+)", refused.text)
    assert found is not None, refused.text
    largest = enqueue(roomy_gateway, "/async-function/flaky", b"y" * int(found.group(1)))
    assert largest.status_code == 202, largest.text
    call_id = largest.headers["X-Call-Id"]
    with ConsumerThread(roomy_gateway.config, provider.functions()):
        record = wait_for_state(roomy_gateway, call_id, "failed")
        assert record["deadLettered"] is True
        with roomy_gateway.client() as client:
            shown = client.get(f"/system/async/dlq/{call_id}", auth=AUTH)
        assert shown.status_code == 200
        assert shown.json()["bodyBytes"] == int(found.group(1))
        assert enqueue(roomy_gateway, "/async-function/echo").status_code == 202


def test_the_broker_connects_again_after_the_server_closed_the_connection(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> None:
        async with connected_broker(async_config(nats_server.port)) as broker:
            client = broker._client
            assert client is not None
            # Headers push the message over max_payload: the server closes the
            # connection, and nats-py does not reconnect by itself after that.
            await client.publish(
                "faas.test", b"x" * 1000, headers={"Big": "y" * client.max_payload}
            )
            for _ in range(200):
                if client.is_closed:
                    break
                await asyncio.sleep(0.05)
            assert client.is_closed
            for _ in range(200):
                if broker.ready and broker._client is not client:
                    break
                await asyncio.sleep(0.05)
            assert broker.ready, broker.problem
            assert broker._client is not client

    asyncio.run(scenario())


def worker_health_becomes(nats_port: int, provider: StaticProvider, status: int) -> None:
    """Start a consumer on `nats_port`; wait until its /healthz answers `status`."""
    config = async_config(nats_port)
    with (
        GatewayThread(provider, async_calls=config) as gateway,
        ConsumerThread(gateway.config, provider.functions()) as consumer,
    ):
        url = consumer.metrics_url.replace("/metrics", "/healthz")
        wait_for(
            lambda: httpx.get(url).status_code == status,
            f"the consumer's /healthz: {status}",
            ignore=(httpx.HTTPError,),
        )
        assert httpx.get(consumer.metrics_url).status_code == 200


def test_the_consumer_is_unhealthy_without_a_broker(
    nats_server: BackgroundProcess, provider: StaticProvider
) -> None:
    worker_health_becomes(free_port(), provider, 503)
    worker_health_becomes(nats_server.port, provider, 200)


def test_messages_published_at_once_get_each_its_own_ack_or_error(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> list[bool | GatewayError]:
        async with connected_broker(async_config(nats_server.port)) as broker:
            js = broker.jetstream()
            stream = StreamConfig(name="PIPE", subjects=["pipe.>"], max_msgs_per_subject=1)
            stream.discard, stream.discard_new_per_subject = DiscardPolicy.NEW, True
            await js.add_stream(stream)
            first = ("pipe.a", b"1", {"Nats-Msg-Id": "a"})
            messages = [first, first]
            messages += [("pipe.a", b"2", {"Nats-Msg-Id": "b"})]  # over the subject's bound
            messages += [("nostream.x", b"3", {})]  # no stream takes it
            messages += [(f"pipe.n{n}", b"4", {}) for n in range(300)]  # past BATCH_IN_FLIGHT
            return await broker.publish_many(messages)

    outcomes = asyncio.run(scenario())
    assert outcomes[:2] == [False, True]  # stored, then a duplicate
    assert isinstance(outcomes[2], BrokerFull)
    assert "maximum messages per subject" in outcomes[2].message
    assert isinstance(outcomes[3], BrokerUnavailable)
    assert outcomes[4:] == [False] * 300


def test_publishing_at_once_without_a_connection_is_unavailable() -> None:
    async def scenario() -> None:
        broker = Broker(async_config(free_port()), name="test")  # never connected
        await broker.publish_many([("pipe.a", b"1", {})])

    with pytest.raises(BrokerUnavailable):
        asyncio.run(scenario())
