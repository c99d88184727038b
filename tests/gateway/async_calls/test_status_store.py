"""`StatusStore`: the status bucket is bounded in bytes; full, it refuses new records
(enqueue answers 503) and keeps the ones it holds; a bucket made before the bound gets it."""

from __future__ import annotations

import asyncio

import nats
from nats.js.api import KeyValueConfig, StorageType

from gateway.async_calls.connection import BYTES_HEADROOM
from gateway.async_calls.messages import CallStatus
from gateway.async_calls.status_store import STATUS_BUCKET, STATUS_STREAM
from gateway.errors import BrokerFull
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
