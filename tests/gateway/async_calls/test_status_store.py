"""`StatusStore`: the status bucket is bounded in bytes; full, it refuses new records
(enqueue answers 503) and keeps the ones it holds; a bucket made before the bound gets it."""

from __future__ import annotations

import asyncio

import nats
from nats.js.api import KeyValueConfig, StorageType

from gateway.async_calls.connection import BYTES_HEADROOM
from gateway.async_calls.messages import CallStatus
from gateway.async_calls.status_store import STATUS_BUCKET, STATUS_STREAM
from gateway.errors import BrokerFull, GatewayError
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess


def test_a_full_status_bucket_refuses_new_records_and_keeps_the_others(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> tuple[int, str, bool]:
        config = async_config(nats_server.port, status_max_bytes=4000)
        async with connected_broker(config) as broker:
            created, refused = 0, ""
            while created < 100 and not refused:
                status = CallStatus(callId=f"call-{created}", function="echo", state="queued")
                try:
                    await broker.statuses.create(status)
                    created += 1
                except BrokerFull as error:
                    refused = error.message
            kept = [await broker.statuses.get(f"call-{n}") for n in range(created)]
            return created, refused, None not in kept

    created, refused, all_kept = asyncio.run(scenario())
    assert "GATEWAY_ASYNC_STATUS_MAX_BYTES" in refused
    assert 0 < created < 100
    assert all_kept


def test_a_bucket_an_older_gateway_made_gets_the_bound(nats_server: BackgroundProcess) -> None:
    async def scenario() -> int:
        client = await nats.connect(f"nats://127.0.0.1:{nats_server.port}")
        try:
            bucket = KeyValueConfig(bucket=STATUS_BUCKET, history=1, storage=StorageType.FILE)
            await client.jetstream().create_key_value(bucket)
        finally:
            await client.close()
        config = async_config(nats_server.port, status_max_bytes=123_456)
        async with connected_broker(config) as broker:
            info = await broker.jetstream().stream_info(STATUS_STREAM)
            return info.config.max_bytes or 0

    assert asyncio.run(scenario()) == 123_456 + BYTES_HEADROOM


def test_records_created_at_once_keep_the_bound_and_report_each_outcome(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> tuple[list[bool | GatewayError], int]:
        config = async_config(nats_server.port, status_max_bytes=4000)
        async with connected_broker(config) as broker:
            assert await broker.statuses.create(record("call-0"))
            outcomes = await broker.statuses.create_many([record(f"call-{n}") for n in range(100)])
            kept = [await broker.statuses.get(f"call-{n}") for n in range(100)]
            return outcomes, sum(status is not None for status in kept)

    outcomes, kept = asyncio.run(scenario())
    assert outcomes[0] is False  # it existed
    created = [outcome for outcome in outcomes if outcome is True]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BrokerFull)]
    assert created
    assert refused
    assert len(created) + len(refused) == 99
    assert all("GATEWAY_ASYNC_STATUS_MAX_BYTES" in error.message for error in refused)
    # The bound counted for the batch as a whole: the refused are the last ones.
    assert outcomes[1 : 1 + len(created)] == created
    assert kept == 1 + len(created)


def record(call_id: str) -> CallStatus:
    return CallStatus(callId=call_id, function="echo", state="queued")
