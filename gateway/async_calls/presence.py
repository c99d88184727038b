"""`ConsumerPresence`: which queue consumers run, for the autoscaler's reading of the queue.

`FAAS_ASYNC_WORKERS` (subjects `faas.async.worker.<id>`, names kept from when queue
consumers were called workers): one message per queue consumer, the last one kept, in
memory, for `PRESENCE_SECONDS`, for at most `PRESENCE_MAX_CONSUMERS` consumers (the
oldest announcements dropped past it).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from gateway.async_calls.connection import BrokerConnection, add_or_update
from gateway.config import AsyncConfig

PRESENCE_STREAM = "FAAS_ASYNC_WORKERS"
PRESENCE_SUBJECT_PREFIX = "faas.async.worker."
PRESENCE_SECONDS = 30.0
"""A queue consumer not heard from for this long no longer counts as running: each one
announces itself every `PRESENCE_SECONDS / 3` (`announce`)."""
PRESENCE_MAX_CONSUMERS = 1000
"""Queue consumers counted at most; each announcement is an empty message."""
PRESENCE_MAX_BYTES = 1024 * 1024


class ConsumerPresence:
    """Queue consumers announce themselves here; the gateway counts them, over `connection`."""

    def __init__(self, connection: BrokerConnection, config: AsyncConfig) -> None:
        self._connection = connection
        self._config = config
        connection.on_connect(_ensure_stream)

    async def announce(self, consumer_id: str) -> None:
        """Say that this queue consumer runs: `running` counts it for `PRESENCE_SECONDS`."""
        js = self._connection.jetstream()
        await self._connection.call(
            "worker presence",
            lambda: js.publish(
                PRESENCE_SUBJECT_PREFIX + consumer_id,
                b"",
                stream=PRESENCE_STREAM,
                timeout=self._config.publish_timeout,
            ),
        )

    async def withdraw(self, consumer_id: str) -> None:
        """Say that this queue consumer stopped (a clean stop: not counted from now on)."""
        js = self._connection.jetstream()
        await self._connection.call(
            "worker presence",
            lambda: js.purge_stream(PRESENCE_STREAM, subject=PRESENCE_SUBJECT_PREFIX + consumer_id),
        )

    async def running(self) -> int:
        """How many queue consumers announced themselves within `PRESENCE_SECONDS`."""
        return len(await self.running_ids())

    async def running_ids(self) -> set[str]:
        """The ids of the queue consumers announced within `PRESENCE_SECONDS`."""
        js = self._connection.jetstream()
        info = await self._connection.call(
            "stream info",
            lambda: js.stream_info(PRESENCE_STREAM, subjects_filter=PRESENCE_SUBJECT_PREFIX + ">"),
        )
        subjects = info.state.subjects or {}
        return {subject.removeprefix(PRESENCE_SUBJECT_PREFIX) for subject in subjects}


async def _ensure_stream(js: JetStreamContext) -> None:
    await add_or_update(
        js,
        StreamConfig(
            name=PRESENCE_STREAM,
            subjects=[PRESENCE_SUBJECT_PREFIX + ">"],
            storage=StorageType.MEMORY,
            max_age=PRESENCE_SECONDS,
            max_msgs_per_subject=1,
            max_msgs=PRESENCE_MAX_CONSUMERS,
            max_bytes=PRESENCE_MAX_BYTES,
            discard=DiscardPolicy.OLD,
        ),
    )
