"""The dead-letter queue keeps every call that failed for good, also a redriven one that
failed again (review of issue 19, finding 2)."""

from __future__ import annotations

import asyncio

from gateway.async_calls.broker import Broker
from gateway.async_calls.messages import QueuedCall
from tests.gateway.async_calls.harness import ScriptedUpstream, WorkerThread, async_config
from tests.gateway.async_calls.test_async_calls import (
    AUTH,
    enqueue,
    fail_times,
    status_of,
    wait_for_state,
)
from tests.gateway.harness import BackgroundProcess, GatewayThread


def test_a_redriven_call_that_fails_again_is_dead_lettered_again(
    gateway: GatewayThread, worker: WorkerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(1000)  # type: ignore[assignment]
    call_id = enqueue(gateway, "/async-function/flaky", b"again").headers["X-Call-Id"]
    wait_for_state(gateway, call_id, "failed")
    with gateway.client() as client:
        redriven = client.post(f"/system/async/dlq/{call_id}/redrive", auth=AUTH)
        assert redriven.status_code == 202
        assert status_of(gateway, call_id)["state"] != "failed"
        record = wait_for_state(gateway, call_id, "failed")
        assert (record["attempt"], record["deadLettered"]) == (3, True)
        assert len(upstream.received) == 6
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
        broker = Broker(async_config(nats_server.port), name="test")
        await broker.start()
        try:
            assert await broker.wait_ready(10)
            await broker.dead_letter(call.dead("status 503", 3, 503))
            old = await broker.dead_letter_by_id("call-1")
            assert old is not None
            # Redriven, and failed again before the redrive dropped the old copy.
            await broker.dead_letter(call.dead("status 500", 2, 500))
            await broker.remove_dead_letter(old)
            kept = await broker.dead_letter_by_id("call-1")
            assert kept is not None
            assert (kept.attempts, kept.last_status) == (2, 500)
            assert await broker.dead_letter_count() == 1
            await broker.remove_dead_letter(kept)
            assert await broker.dead_letter_by_id("call-1") is None
        finally:
            await broker.close()

    asyncio.run(scenario())
