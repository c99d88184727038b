"""`DeadLetters`: the calls that failed for good, kept to be looked at, redriven or dropped.

`FAAS_ASYNC_DEAD` (subjects `faas.async.dead.<call-id>`): dead-lettered calls, kept for
the dead-letter retention, the latest copy of each call only (a call dead-lettered again
replaces its copy: no message-id de-duplication that could drop it). Bounded in calls and
bytes: at a bound the oldest copies are dropped (discard old), as every dead-lettered
call is final already (its status record says `failed`); refusing the new copy instead
would leave its call unacked, to run again and again.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)

from gateway.async_calls.connection import BrokerConnection, add_or_update
from gateway.async_calls.messages import (
    DEAD_SUBJECT_PREFIX,
    DeadLetter,
    DeadLetterPage,
    QueuedCall,
    dead_subject,
    message_size,
)
from gateway.config import AsyncConfig
from gateway.errors import PayloadTooLarge

DEAD_STREAM = "FAAS_ASYNC_DEAD"
NO_MESSAGE_FOUND = 10057
"""JetStream's error code for a sequence the stream does not hold."""
LIST_BYTES = 4 * 1024 * 1024
"""A dead-letter listing stops after this many bytes of headers (then pages on)."""
LIST_SECONDS = 5.0
"""A dead-letter listing stops after this long (then pages on)."""
LIST_BATCH = 256
MSG_SIZE = "Nats-Msg-Size"
"""The header a headers-only consumer puts in place of the body: the body's size."""


class DeadLetters:
    """Store, list, read, remove and purge dead-lettered calls, over `connection`."""

    def __init__(self, connection: BrokerConnection, config: AsyncConfig) -> None:
        self._connection = connection
        self._config = config
        connection.on_connect(self._ensure_stream)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        retention = self._config.dead_letter_retention
        await add_or_update(
            js,
            StreamConfig(
                name=DEAD_STREAM,
                subjects=[DEAD_SUBJECT_PREFIX + ">"],
                storage=StorageType.FILE,
                max_age=retention,
                duplicate_window=min(120.0, retention),
                max_msgs_per_subject=1,
                max_msgs=self._config.dead_letter_max_calls,
                max_bytes=self._config.dead_letter_max_bytes,
                discard=DiscardPolicy.OLD,
            ),
        )

    async def store(self, call: QueuedCall) -> None:
        """Store a dead-lettered call, waiting for JetStream's ack. It replaces an older
        copy of the same call (a redriven call that failed again, or a delivery again
        after a queue consumer died before its ack); no message id, so nothing
        de-duplicates it away."""
        js = self._connection.jetstream()
        headers = call.nats_headers()
        limit = self._connection.max_payload
        if limit is not None and message_size(headers, call.body) > limit:
            # Sent anyway, the server would close the connection.
            raise PayloadTooLarge(f"dead-letter copy of {call.call_id}: over {limit} bytes")
        await self._connection.call(
            "dead-letter",
            lambda: js.publish(
                dead_subject(call.call_id), call.body, headers=headers, stream=DEAD_STREAM
            ),
        )

    async def page(self, limit: int, after: int = 0) -> DeadLetterPage:
        """Up to `limit` dead-lettered calls after stream sequence `after`, oldest first,
        without their bodies: headers only (an ephemeral headers-only consumer), and no
        more than `LIST_BYTES` of them or `LIST_SECONDS` in all; `next` says where the
        next page starts when there may be more."""
        js = self._connection.jetstream()

        async def collect() -> DeadLetterPage:
            info = await js.stream_info(DEAD_STREAM)
            if info.state.messages == 0 or info.state.last_seq <= after:
                return DeadLetterPage([], None)
            name = f"faas-dlq-list-{uuid.uuid4().hex}"
            config = ConsumerConfig(
                name=name,
                filter_subject=DEAD_SUBJECT_PREFIX + ">",
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                ack_policy=AckPolicy.NONE,
                headers_only=True,
                mem_storage=True,
                inactive_threshold=LIST_SECONDS * 2,
            )
            await js.add_consumer(DEAD_STREAM, config)
            subscription = await js.pull_subscribe_bind(name, stream=DEAD_STREAM)
            found: list[DeadLetter] = []
            last, size, more = after, 0, True
            deadline = time.monotonic() + LIST_SECONDS
            try:
                while more and len(found) < limit and size < LIST_BYTES:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        batch = await subscription.fetch(
                            min(limit - len(found), LIST_BATCH), timeout=left
                        )
                    except TimeoutError:
                        break
                    for message in batch:
                        if size >= LIST_BYTES:  # the rest of this batch: the next page
                            more = True
                            break
                        metadata = message.metadata
                        last = metadata.sequence.stream
                        more = metadata.num_pending > 0
                        headers = message.headers or {}
                        size += sum(len(name) + len(value) for name, value in headers.items())
                        with contextlib.suppress(ValueError):
                            call = QueuedCall.from_nats(headers, b"", last)
                            found.append(DeadLetter(call, int(headers.get(MSG_SIZE, "0"))))
            finally:
                with contextlib.suppress(Exception):  # else it goes when inactive
                    await subscription.unsubscribe()
                    await js.delete_consumer(DEAD_STREAM, name)
            return DeadLetterPage(found, last if more else None)

        return await self._connection.call("dead letters", collect)

    async def at(self, sequence: int) -> QueuedCall | None:
        """The dead-lettered call stored at `sequence`, with its body (None if gone)."""
        js = self._connection.jetstream()

        async def get() -> QueuedCall | None:
            try:
                message = await js.get_msg(DEAD_STREAM, seq=sequence)
            except nats.js.errors.NotFoundError:
                return None
            except nats.js.errors.APIError as error:
                if error.err_code == NO_MESSAGE_FOUND:
                    return None
                raise
            try:
                return QueuedCall.from_nats(message.headers, message.data or b"", sequence)
            except ValueError:
                return None

        return await self._connection.call("dead letter", get)

    async def count(self) -> int:
        """How many calls the dead-letter queue holds."""
        js = self._connection.jetstream()
        info = await self._connection.call("stream info", lambda: js.stream_info(DEAD_STREAM))
        return info.state.messages

    async def by_id(self, call_id: str) -> QueuedCall | None:
        """One dead-lettered call, or None."""
        js = self._connection.jetstream()

        async def get() -> QueuedCall | None:
            try:
                message = await js.get_last_msg(DEAD_STREAM, dead_subject(call_id))
            except nats.js.errors.NotFoundError:
                return None
            try:
                return QueuedCall.from_nats(message.headers, message.data or b"", message.seq)
            except ValueError:
                return None

        return await self._connection.call("dead letter", get)

    async def remove(self, call: QueuedCall) -> None:
        """Drop this copy of a dead-lettered call (read from the stream, so with its
        sequence): a newer copy of the same call, stored since, stays."""
        js = self._connection.jetstream()
        if call.sequence is None:
            raise ValueError("DeadLetters.remove: a copy read from the dead-letter stream")
        sequence = call.sequence

        async def delete() -> None:
            try:
                await js.delete_msg(DEAD_STREAM, sequence)
            except nats.js.errors.APIError as error:
                if error.err_code != NO_MESSAGE_FOUND:  # else: replaced, or gone already
                    raise

        await self._connection.call("delete", delete)

    async def purge(self) -> int:
        """Empty the dead-letter queue; how many calls it held."""
        count = await self.count()
        js = self._connection.jetstream()
        await self._connection.call("purge", lambda: js.purge_stream(DEAD_STREAM))
        return count
