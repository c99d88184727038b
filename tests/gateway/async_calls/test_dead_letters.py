"""The dead-letter queue keeps every call that failed for good, also a redriven one that
failed again, and is listed and redriven in bounded pieces (review of issue 19,
findings 2 and 7)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.async_calls import api as api_module
from gateway.async_calls import dead_letters as dead_letters_module
from gateway.async_calls.messages import CallStatus, QueuedCall
from gateway.errors import TooManyRequests
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    ScriptedUpstream,
    async_config,
    connected_broker,
)
from tests.gateway.async_calls.test_async_calls import (
    AUTH,
    enqueue,
    fail_times,
    status_of,
    wait_for_state,
)
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import wait_for


def test_a_redriven_call_that_fails_again_is_dead_lettered_again(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(1000)  # type: ignore[assignment]
    call_id = enqueue(gateway, "/async-function/flaky", b"again").headers["X-Call-Id"]
    wait_for_state(gateway, call_id, "failed")
    with gateway.client() as client:
        redriven = client.post(f"/system/async/dlq/{call_id}/redrive", auth=AUTH)
        assert redriven.status_code == 202
        wait_for(lambda: len(upstream.received) == 6, "three more attempts")
        record = wait_for_state(gateway, call_id, "failed")
        assert (record["attempt"], record["deadLettered"]) == (3, True)
        listed = client.get("/system/async/dlq", auth=AUTH).json()
        assert [call["callId"] for call in listed["calls"]] == [call_id]
        shown = client.get(f"/system/async/dlq/{call_id}", auth=AUTH)
        assert shown.status_code == 200
        assert shown.json()["attempts"] == 3


def test_dropping_a_copy_keeps_a_newer_copy_of_the_same_call(
    nats_server: BackgroundProcess,
) -> None:
    call = QueuedCall("call-1", "echo", "POST", "/", (), b"body", started_at=1.0)

    async def scenario() -> None:
        async with connected_broker(async_config(nats_server.port)) as broker:
            await broker.dead_letters.store(call.dead("status 503", 3, 503))
            old = await broker.dead_letters.by_id("call-1")
            assert old is not None
            # Redriven, and failed again before the redrive dropped the old copy.
            await broker.dead_letters.store(call.dead("status 500", 2, 500))
            await broker.dead_letters.remove(old)
            kept = await broker.dead_letters.by_id("call-1")
            assert kept is not None
            assert (kept.attempts, kept.last_status) == (2, 500)
            assert await broker.dead_letters.count() == 1
            await broker.dead_letters.remove(kept)
            assert await broker.dead_letters.by_id("call-1") is None

    asyncio.run(scenario())


def dead_letter(nats_port: int, count: int) -> list[str]:
    """Put `count` calls in the dead-letter queue directly; their ids, oldest first."""
    ids = [f"dead-{n}" for n in range(count)]

    async def store() -> None:
        async with connected_broker(async_config(nats_port)) as broker:
            for n, call_id in enumerate(ids):
                call = QueuedCall(call_id, "echo", "POST", "/", (), b"b" * (n + 1), 1.0)
                await broker.dead_letters.store(call.dead("status 503", 5, 503))

    asyncio.run(store())
    return ids


def test_the_dead_letter_list_pages_from_headers(
    nats_server: BackgroundProcess, gateway: GatewayThread
) -> None:
    ids = dead_letter(nats_server.port, 3)
    with gateway.client() as client:
        first = client.get("/system/async/dlq?limit=2", auth=AUTH).json()
        assert first["total"] == 3
        assert [call["callId"] for call in first["calls"]] == ids[:2]
        assert [call["bodyBytes"] for call in first["calls"]] == [1, 2]
        assert first["next"] is not None
        rest = client.get(f"/system/async/dlq?after={first['next']}", auth=AUTH).json()
        assert [call["callId"] for call in rest["calls"]] == ids[2:]
        assert rest["calls"][0]["bodyBytes"] == 3
        assert rest["next"] is None
        assert client.get("/system/async/dlq?after=x", auth=AUTH).status_code == 400


def test_the_dead_letter_list_stops_at_its_byte_budget(
    nats_server: BackgroundProcess, gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = dead_letter(nats_server.port, 3)
    monkeypatch.setattr(dead_letters_module, "LIST_BYTES", 1)
    seen: list[str] = []
    after = 0
    with gateway.client() as client:
        for _ in ids:
            page = client.get(f"/system/async/dlq?after={after}", auth=AUTH).json()
            assert len(page["calls"]) == 1
            seen.append(page["calls"][0]["callId"])
            after = page["next"]
    assert seen == ids
    assert after is None


def test_redrive_all_goes_on_in_rounds_within_its_time_budget(
    nats_server: BackgroundProcess, gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = dead_letter(nats_server.port, 3)
    monkeypatch.setattr(api_module, "REDRIVE_SECONDS", 0.0)
    redriven: list[str] = []
    with gateway.client() as client:
        for _ in ids:
            answer = client.post("/system/async/dlq/redrive", auth=AUTH).json()
            redriven += answer["redriven"]
            if not answer["more"]:
                break
        assert redriven == ids
        assert client.get("/system/async/dlq", auth=AUTH).json()["total"] == 0
    for call_id in ids:
        assert status_of(gateway, call_id)["state"] == "queued"


def test_a_full_dead_letter_queue_drops_its_oldest_copies(nats_server: BackgroundProcess) -> None:
    # Every dead-lettered call is final already: storing the newest copy must not fail
    # (its call would stay unacked, to run again), so the oldest copies give way.
    async def scenario() -> tuple[int, list[str | None]]:
        config = async_config(nats_server.port, dead_letter_max_calls=3)
        async with connected_broker(config) as broker:
            for n in range(5):
                call = QueuedCall(f"dead-{n}", "echo", "POST", "/", (), b"b", 1.0)
                await broker.dead_letters.store(call.dead("status 503", 5, 503))
            found = [await broker.dead_letters.by_id(f"dead-{n}") for n in range(5)]
            return await broker.dead_letters.count(), [c.call_id if c else None for c in found]

    count, found = asyncio.run(scenario())
    assert count == 3
    assert found == [None, None, "dead-2", "dead-3", "dead-4"]


def test_a_full_dead_letter_queue_in_bytes_drops_its_oldest_copies(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> tuple[int, int, int]:
        config = async_config(nats_server.port, dead_letter_max_bytes=20_000)
        async with connected_broker(config) as broker:
            for n in range(10):
                call = QueuedCall(f"dead-{n}", "echo", "POST", "/", (), b"b" * 4000, 1.0)
                await broker.dead_letters.store(call.dead("status 503", 5, 503))
            info = await broker.jetstream().stream_info(dead_letters_module.DEAD_STREAM)
            newest = await broker.dead_letters.by_id("dead-9")
            return info.state.messages, info.state.bytes, int(newest is not None)

    messages, size, newest_kept = asyncio.run(scenario())
    assert 0 < messages < 10
    assert size <= 20_000
    assert newest_kept == 1


def test_a_redrive_the_full_queue_refuses_keeps_the_dead_letter_and_its_record(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> tuple[str, bool, str]:
        config = async_config(nats_server.port, function_max_calls=1)
        async with connected_broker(config) as broker:
            dead = QueuedCall("dead-1", "echo", "POST", "/", (), b"b", 1.0)
            await broker.dead_letters.store(dead.dead("status 503", 5, 503))
            failed = CallStatus(callId="dead-1", function="echo", state="failed")
            await broker.statuses.put(failed)
            filler = QueuedCall("queued-1", "echo", "POST", "/", (), b"b", 1.0)
            await broker.queue.enqueue(filler, dedupe_id="queued-1")
            copy = await broker.dead_letters.by_id("dead-1")
            assert copy is not None
            with pytest.raises(TooManyRequests) as refused:
                await api_module.redrive(broker, copy)
            record = await broker.statuses.get("dead-1")
            kept = await broker.dead_letters.by_id("dead-1") is not None
            return refused.value.message, kept, record.state if record else ""

    message, kept, state = asyncio.run(scenario())
    assert "GATEWAY_ASYNC_FUNCTION_MAX_CALLS" in message
    assert (kept, state) == (True, "failed")
