"""`StatusStore`: the status record of each async call, by id.

`faas_async_status`: a JetStream key-value bucket, one record per call (history 1), kept
for the status retention, up to `GATEWAY_ASYNC_STATUS_MAX_BYTES`: a full bucket refuses
new records (discard new), so enqueue answers 503 and no call goes unrecorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from gateway.async_calls.connection import (
    BYTES_HEADROOM,
    BrokerConnection,
    gather_bounded,
    not_below_contents,
    stored_bytes,
)
from gateway.async_calls.messages import CallStatus
from gateway.config import AsyncConfig
from gateway.errors import BrokerFull, BrokerUnavailable, GatewayError

STATUS_BUCKET = "faas_async_status"
STATUS_STREAM = f"KV_{STATUS_BUCKET}"


class StatusStore:
    """Create, replace, read and forget calls' status records, over `connection`."""

    def __init__(self, connection: BrokerConnection, config: AsyncConfig) -> None:
        self._connection = connection
        self._config = config
        self._bucket: KeyValue | None = None
        connection.on_connect(self._ensure_bucket)

    async def _ensure_bucket(self, js: JetStreamContext) -> None:
        bound = self._config.status_max_bytes + BYTES_HEADROOM
        try:
            self._bucket = await js.key_value(STATUS_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            self._bucket = await js.create_key_value(
                KeyValueConfig(
                    bucket=STATUS_BUCKET,
                    history=1,
                    ttl=self._config.status_retention,
                    storage=StorageType.FILE,
                    max_bytes=bound,
                )
            )
            return
        # A bucket made earlier (by an older gateway, or with another bound): to this one.
        current = (await js.stream_info(STATUS_STREAM)).config
        config = await not_below_contents(js, dataclasses.replace(current, max_bytes=bound))
        if config.max_bytes != current.max_bytes:
            await js.update_stream(config)

    def _ready_bucket(self) -> KeyValue:
        self._connection.jetstream()
        if self._bucket is None:
            raise BrokerUnavailable("message broker unavailable: no status bucket yet")
        return self._bucket

    async def create(self, status: CallStatus) -> bool:
        """Store the first record of a call; False if one exists already. `BrokerFull`
        when the bucket is at its bound."""
        bucket = self._ready_bucket()
        record = status.encode()
        held = await stored_bytes(self._connection, STATUS_STREAM)
        if held + len(record) > self._config.status_max_bytes:
            raise self._full()
        return await self._create(bucket, status.callId, record)

    async def create_many(self, statuses: Sequence[CallStatus]) -> list[bool | GatewayError]:
        """`create` for each of `statuses`, the bucket's bytes counted once for them all
        and the writes in flight together (`gather_bounded`); per record, in order, what
        `create` returns or raises. The bound holds for the batch: a record that would
        take the bucket past it, with the records before it, is refused."""
        if not statuses:
            return []
        bucket = self._ready_bucket()
        room = self._config.status_max_bytes - await stored_bytes(self._connection, STATUS_STREAM)
        refused: dict[int, GatewayError] = {}
        writes = []
        for index, status in enumerate(statuses):
            record = status.encode()
            if len(record) > room:
                refused[index] = self._full()
                continue
            room -= len(record)
            writes.append(partial(self._create, bucket, status.callId, record))
        written = iter(await gather_bounded(writes))
        return [refused.get(index) or next(written) for index in range(len(statuses))]

    def _full(self) -> BrokerFull:
        return BrokerFull(
            f"the async status bucket is full: it holds {self._config.status_max_bytes} "
            "bytes (GATEWAY_ASYNC_STATUS_MAX_BYTES); try again later"
        )

    async def _create(self, bucket: KeyValue, key: str, record: bytes) -> bool:
        try:
            await self._connection.call("status", lambda: bucket.create(key, record))
        except BrokerFull as error:
            raise self._full() from error
        except BrokerUnavailable as error:
            if isinstance(error.__cause__, nats.js.errors.KeyWrongLastSequenceError):
                return False
            raise
        return True

    async def put(self, status: CallStatus) -> None:
        """Store a call's record (replacing the last)."""
        bucket = self._ready_bucket()
        await self._connection.call("status", lambda: bucket.put(status.callId, status.encode()))

    async def delete(self, call_id: str) -> None:
        """Forget a call's record."""
        bucket = self._ready_bucket()
        await self._connection.call("status", lambda: bucket.delete(call_id))

    async def get(self, call_id: str) -> CallStatus | None:
        """A call's record, or None if there is none (unknown, or past its retention)."""
        bucket = self._ready_bucket()

        async def get() -> bytes | None:
            try:
                entry = await bucket.get(call_id)
            except nats.js.errors.KeyNotFoundError:  # also deleted or purged keys
                return None
            return entry.value

        value = await self._connection.call("status", get)
        if value is None:
            return None
        try:
            return CallStatus.decode(value)
        except ValueError:
            return None
