"""`/async-function/...` refuses at enqueue what could not be kept or run: a queue at its
bound (429 for one function's, 503 for the whole queue's), a bad or looping `X-Faas-Hops`
(400, 508), an idempotency key reused for another call (409). Never a 202 that is lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import call_id_for, store_call, store_calls
from gateway.async_calls.messages import QueuedCall
from gateway.errors import GatewayError, PayloadTooLarge, TooManyRequests
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS, broker_answers
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    ScriptedUpstream,
    async_config,
    connected_broker,
)
from tests.gateway.async_calls.test_async_calls import enqueue, status_of, wait_for_state
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import free_port, wait_for

AUTH = (CREDENTIALS.user, CREDENTIALS.password)


@pytest.fixture
def bounded(
    request: pytest.FixtureRequest, nats_server: BackgroundProcess, provider: StaticProvider
) -> Iterator[GatewayThread]:
    """A gateway whose queue has the bounds given as the fixture's parameter."""
    overrides: dict[str, Any] = request.param
    config = async_config(nats_server.port, **overrides)
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as running:
        wait_for(lambda: broker_answers(running), "the gateway's broker connection", timeout=30)
        yield running


def call_ids(responses: list[httpx.Response]) -> list[str]:
    assert [response.status_code for response in responses] == [202] * len(responses)
    return [response.headers["X-Call-Id"] for response in responses]


@pytest.mark.parametrize(
    "bounded", [{"function_max_calls": 3, "queue_max_calls": 5}], indirect=True
)
def test_a_full_queue_refuses_and_every_call_accepted_before_completes(
    bounded: GatewayThread, provider: StaticProvider, upstream: ScriptedUpstream
) -> None:
    accepted = call_ids([enqueue(bounded, "/async-function/echo", b"e%d" % n) for n in range(3)])
    per_function = enqueue(bounded, "/async-function/echo", b"over", **{"X-Idempotency-Key": "k"})
    assert per_function.status_code == 429
    assert "GATEWAY_ASYNC_FUNCTION_MAX_CALLS" in per_function.text
    assert "'echo'" in per_function.text
    # Refused: no record says it was queued.
    with bounded.client() as client:
        gone = client.get(f"/system/async/{call_id_for('echo', 'k')}", auth=AUTH)
    assert gone.status_code == 404
    # Another function still has room in the queue.
    accepted += call_ids([enqueue(bounded, "/async-function/flaky", b"f%d" % n) for n in range(2)])
    whole = enqueue(bounded, "/async-function/flaky", b"over")
    assert whole.status_code == 503
    assert "GATEWAY_ASYNC_QUEUE_MAX_CALLS" in whole.text
    with ConsumerThread(bounded.config, provider.functions()):
        for call_id in accepted:
            assert wait_for_state(bounded, call_id, "succeeded")["status"] == 200
        # Room again once the queue drained; the refused key was not taken by the refusal.
        again = enqueue(bounded, "/async-function/echo", b"over", **{"X-Idempotency-Key": "k"})
        assert again.status_code == 202
        wait_for_state(bounded, again.headers["X-Call-Id"], "succeeded")
    bodies = sorted(request.body for request in upstream.received)
    assert bodies == sorted([b"e0", b"e1", b"e2", b"f0", b"f1", b"over"])


@pytest.mark.parametrize("bounded", [{"queue_max_bytes": 4000}], indirect=True)
def test_a_queue_at_its_byte_bound_refuses_with_503(bounded: GatewayThread) -> None:
    answers = [enqueue(bounded, "/async-function/echo", b"x" * 900) for _ in range(6)]
    codes = [answer.status_code for answer in answers]
    assert codes[0] == 202
    assert codes[-1] == 503, codes
    refused = next(answer for answer in answers if answer.status_code != 202)
    assert "GATEWAY_ASYNC_QUEUE_MAX_BYTES" in refused.text
    assert all(code == 503 for code in codes[codes.index(503) :])


@pytest.mark.parametrize(
    ("hops", "status", "text"),
    [("abc", 400, "invalid X-Faas-Hops"), ("10", 508, "loop detected"), ("99999", 508, "loop")],
)
def test_a_bad_hop_count_is_refused_at_enqueue(
    gateway: GatewayThread, hops: str, status: int, text: str
) -> None:
    response = enqueue(
        gateway, "/async-function/echo", b"x", **{"X-Faas-Hops": hops, "X-Idempotency-Key": hops}
    )
    assert response.status_code == status
    assert text in response.text
    with gateway.client() as client:
        record = client.get(f"/system/async/{call_id_for('echo', hops)}", auth=AUTH)
    assert record.status_code == 404


def test_a_hop_count_below_the_bound_is_queued(gateway: GatewayThread) -> None:
    response = enqueue(gateway, "/async-function/echo", b"x", **{"X-Faas-Hops": "3"})
    assert response.status_code == 202


def test_an_idempotency_key_with_the_same_call_gives_the_first_id(
    gateway: GatewayThread,
) -> None:
    key = {"X-Idempotency-Key": "same"}
    first = enqueue(gateway, "/async-function/echo/p?q=1", b"body", **key)
    second = enqueue(gateway, "/async-function/echo/p?q=1", b"body", **key)
    assert first.status_code == second.status_code == 202
    assert first.headers["X-Call-Id"] == second.headers["X-Call-Id"]
    assert status_of(gateway, first.headers["X-Call-Id"])["state"] == "queued"


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/async-function/echo/p?q=1", b"other body", {}),
        ("/async-function/echo/p?q=2", b"body", {}),
        ("/async-function/echo/other?q=1", b"body", {}),
        ("/async-function/echo/p?q=1", b"body", {"X-Callback-Url": "callback/x"}),
    ],
)
def test_an_idempotency_key_reused_for_another_call_is_409(
    gateway: GatewayThread,
    upstream: ScriptedUpstream,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    key = f"key-{uuid.uuid4()}"
    first = enqueue(gateway, "/async-function/echo/p?q=1", b"body", **{"X-Idempotency-Key": key})
    assert first.status_code == 202
    if "X-Callback-Url" in headers:
        headers = {"X-Callback-Url": f"{upstream.url}/{headers['X-Callback-Url']}"}
    other = enqueue(gateway, path, body, **{"X-Idempotency-Key": key, **headers})
    assert other.status_code == 409
    assert "X-Idempotency-Key" in other.text
    assert "different call" in other.text
    assert status_of(gateway, first.headers["X-Call-Id"])["state"] == "queued"


def test_an_idempotency_key_reused_with_put_is_409(gateway: GatewayThread) -> None:
    first = enqueue(gateway, "/async-function/echo", b"b", **{"X-Idempotency-Key": "m"})
    assert first.status_code == 202
    with gateway.client() as client:
        other = client.put("/async-function/echo", content=b"b", headers={"X-Idempotency-Key": "m"})
    assert other.status_code == 409


def test_the_same_call_after_it_ran_still_gives_its_id(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    key = {"X-Idempotency-Key": "ran"}
    first = enqueue(gateway, "/async-function/echo", b"once", **key)
    wait_for_state(gateway, first.headers["X-Call-Id"], "succeeded")
    again = enqueue(gateway, "/async-function/echo", b"once", **key)
    assert again.status_code == 202
    assert again.headers["X-Call-Id"] == first.headers["X-Call-Id"]
    assert enqueue(gateway, "/async-function/echo", b"twice", **key).status_code == 409
    assert [request.body for request in upstream.received] == [b"once"]


def test_calls_stored_at_once_get_store_calls_outcome_each(nats_server: BackgroundProcess) -> None:
    config = async_config(nats_server.port, function_max_calls=1)

    def queued(function: str, key: str, body: bytes = b"tick") -> tuple[QueuedCall, str]:
        call_id = call_id_for(function, key)
        return QueuedCall(call_id, function, "POST", "/", (), body, started_at=1.0), key

    async def scenario() -> tuple[list[str | GatewayError], list[str | None], dict[str, int]]:
        async with connected_broker(config) as broker:
            first = queued("echo", "tick-1")
            await store_call(broker, config, first[0], idempotency_key="tick-1")
            batch = [
                first,  # stored already: its id, not queued again
                queued("echo", "tick-2"),  # the function's bound (1 call): 429
                queued("other", "tick-1"),
                queued("big", "tick-1", b"x" * 2 * 1024 * 1024),  # over max_payload: 413
            ]
            outcomes = await store_calls(broker, config, batch)
            records = [await broker.statuses.get(call.call_id) for call, _ in batch]
            states: list[str | None] = [record.state if record else None for record in records]
            return outcomes, states, await broker.queue.pending()

    outcomes, states, pending = asyncio.run(scenario())
    assert outcomes[0] == call_id_for("echo", "tick-1")
    assert isinstance(outcomes[1], TooManyRequests)
    assert outcomes[2] == call_id_for("other", "tick-1")
    assert isinstance(outcomes[3], PayloadTooLarge)
    # Every call stored has its record; a refused one has none.
    assert states == ["queued", None, "queued", None]
    assert pending == {"echo": 1, "other": 1}


def test_an_empty_batch_stores_nothing_and_asks_nothing() -> None:
    config = async_config(free_port())
    broker = Broker(config, name="test")  # never connected
    assert asyncio.run(store_calls(broker, config, [])) == []
