"""The connection to NATS JetStream, and every stream, consumer and bucket async calls use.

- `FAAS_ASYNC_CALLS` (subjects `faas.async.call.<function>`): queued calls. Work-queue
  retention (a call leaves the stream when a worker acks it), file storage, and a
  de-duplication window: the idempotency window, keyed by `Nats-Msg-Id`.
- `FAAS_ASYNC_DEAD` (subjects `faas.async.dead.<call-id>`): dead-lettered calls, kept for
  the dead-letter retention, the latest copy of each call only (a call dead-lettered
  again replaces its copy: no message-id de-duplication that could drop it).
- `faas_async_status`: a key-value bucket, the status record of each call by id, kept
  for the status retention.
- The durable pull consumer `faas-queue-worker` on the calls, which every queue-worker
  replica shares.

`Broker` connects in the background and reconnects by itself, also after the server
closed the connection for good (nats-py gives up then, e.g. after a protocol error):
until it is connected, every operation raises `BrokerUnavailable` at once with the
reason (a 503, never a fake accept). A message must fit the server's `max_payload`
(headers included) or the server drops the connection: `check_size` refuses a call
whose message, or its dead-lettered copy, would not (413). docs/async.md explains the
design.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from gateway.async_calls.messages import (
    CALL_SUBJECT_PREFIX,
    DEAD_LETTER_ALLOWANCE,
    DEAD_SUBJECT_PREFIX,
    CallStatus,
    DeadLetter,
    DeadLetterPage,
    QueuedCall,
    call_subject,
    dead_subject,
    message_size,
)
from gateway.config import AsyncConfig
from gateway.errors import BrokerUnavailable, PayloadTooLarge

log = logging.getLogger("gateway.async")

CALLS_STREAM = "FAAS_ASYNC_CALLS"
DEAD_STREAM = "FAAS_ASYNC_DEAD"
STATUS_BUCKET = "faas_async_status"
WORKERS_STREAM = "FAAS_ASYNC_WORKERS"
WORKER_SUBJECT_PREFIX = "faas.async.worker."
WORKER_PRESENCE_SECONDS = 30.0
"""A queue worker not heard from for this long no longer counts as running: each one
announces itself every `WORKER_PRESENCE_SECONDS / 3` (`announce_worker`)."""
WORKER_CONSUMER = "faas-queue-worker"
RECONNECT_SECONDS = 1
NO_MESSAGE_FOUND = 10057
"""JetStream's error code for a sequence the stream does not hold."""
LIST_BYTES = 4 * 1024 * 1024
"""A dead-letter listing stops after this many bytes of headers (then pages on)."""
LIST_SECONDS = 5.0
"""A dead-letter listing stops after this long (then pages on)."""
LIST_BATCH = 256
MSG_SIZE = "Nats-Msg-Size"
"""The header a headers-only consumer puts in place of the body: the body's size."""

T = TypeVar("T")


class Broker:
    """JetStream for async calls: opened by `start` (connects in the background), `close`."""

    def __init__(self, config: AsyncConfig, *, name: str) -> None:
        self._config = config
        self._name = name
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._status: KeyValue | None = None
        self._ready = asyncio.Event()
        self._problem = "not connected yet"
        self._connecting: asyncio.Task[None] | None = None
        self._closing = False
        self._generation = 0

    @property
    def ready(self) -> bool:
        """Connected, with the streams and bucket in place."""
        client = self._client
        return self._ready.is_set() and client is not None and client.is_connected

    @property
    def generation(self) -> int:
        """Counts connections made: a subscription from an older one is gone."""
        return self._generation

    @property
    def max_payload(self) -> int | None:
        """The largest message (headers and body) the server takes; None if not connected."""
        client = self._client
        return client.max_payload if self.ready and client is not None else None

    @property
    def problem(self) -> str:
        """Why the broker cannot be used now ('' when it can)."""
        if self.ready:
            return ""
        client = self._client
        if client is not None and client.is_reconnecting:
            return f"reconnecting to {self._config.nats_url}"
        return self._problem

    async def start(self) -> None:
        """Start connecting (and keep trying) without waiting for it."""
        self._connecting = asyncio.create_task(self._connect())

    async def wait_ready(self, within: float) -> bool:
        """Wait up to `within` seconds for the first connection; whether it is ready."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), within)
        return self.ready

    async def close(self) -> None:
        """Stop connecting, and drain and close the connection."""
        self._closing = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()

    async def _connect(self) -> None:
        async def on_error(error: Exception) -> None:
            self._problem = f"{self._config.nats_url}: {error or type(error).__name__}"

        async def on_reconnected() -> None:
            log.info("NATS: reconnected")
            with contextlib.suppress(Exception):
                await self._ensure_streams()

        async def on_disconnected() -> None:
            log.warning("NATS: disconnected from %s", self._config.nats_url)

        async def on_closed() -> None:
            # nats-py closes for good on a protocol error from the server (and never
            # reconnects then): start over, unless this is `close` or a failed attempt
            # of the loop below, which retries by itself.
            if self._closing or (self._connecting is not None and not self._connecting.done()):
                return
            client = self._client
            error = client.last_error if client is not None else None
            self._problem = f"connection to {self._config.nats_url} closed: {error!r}"
            log.warning("NATS: %s; connecting again", self._problem)
            self._ready.clear()
            self._client, self._js, self._status = None, None, None
            self._connecting = asyncio.create_task(self._connect())

        while True:
            try:
                client = await nats.connect(
                    self._config.nats_url.split(","),
                    name=self._name,
                    connect_timeout=2,
                    reconnect_time_wait=1,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=on_error,
                    reconnected_cb=on_reconnected,
                    disconnected_cb=on_disconnected,
                    closed_cb=on_closed,
                )
                self._client = client
                self._js = client.jetstream(timeout=self._config.publish_timeout)
                await self._ensure_streams()
                self._generation += 1
                self._ready.set()
                log.info("NATS: connected to %s", self._config.nats_url)
                return
            except Exception as error:  # any failure: report it, try again
                self._problem = f"cannot connect to {self._config.nats_url}: {error!r}"
                log.warning("NATS: %s", self._problem)
                if self._client is not None:
                    with contextlib.suppress(Exception):
                        await self._client.close()
                    self._client = None
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _ensure_streams(self) -> None:
        js = self._jetstream_or_none()
        if js is None:
            return
        config = self._config
        await _add_or_update(
            js,
            StreamConfig(
                name=CALLS_STREAM,
                subjects=[CALL_SUBJECT_PREFIX + ">"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=config.idempotency_window,
            ),
        )
        await _add_or_update(
            js,
            StreamConfig(
                name=DEAD_STREAM,
                subjects=[DEAD_SUBJECT_PREFIX + ">"],
                storage=StorageType.FILE,
                max_age=config.dead_letter_retention,
                duplicate_window=min(120.0, config.dead_letter_retention),
                max_msgs_per_subject=1,
            ),
        )
        await _add_or_update(
            js,
            StreamConfig(
                name=WORKERS_STREAM,
                subjects=[WORKER_SUBJECT_PREFIX + ">"],
                storage=StorageType.MEMORY,
                max_age=WORKER_PRESENCE_SECONDS,
                max_msgs_per_subject=1,
            ),
        )
        try:
            self._status = await js.key_value(STATUS_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            self._status = await js.create_key_value(
                KeyValueConfig(
                    bucket=STATUS_BUCKET,
                    history=1,
                    ttl=config.status_retention,
                    storage=StorageType.FILE,
                )
            )

    def _jetstream_or_none(self) -> JetStreamContext | None:
        return self._js

    def _jetstream(self) -> JetStreamContext:
        js = self._js
        if js is None or not self.ready:
            raise BrokerUnavailable(f"message broker unavailable: {self.problem}")
        return js

    async def _call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one JetStream operation; its failure becomes `BrokerUnavailable`."""
        try:
            return await operation()
        except (nats.errors.Error, TimeoutError, OSError) as error:
            reason = str(error) or type(error).__name__
            raise BrokerUnavailable(f"message broker unavailable: {what}: {reason}") from error

    # Calls ------------------------------------------------------------------------------

    def check_size(self, call: QueuedCall, dedupe_id: str) -> None:
        """`PayloadTooLarge` unless `call`'s message, and its dead-lettered copy, fit the
        server's `max_payload` (`BrokerUnavailable` when not connected)."""
        self._jetstream()
        limit = self.max_payload
        if limit is None:
            raise BrokerUnavailable(f"message broker unavailable: {self.problem}")
        headers = self._call_headers(call, dedupe_id)
        size = message_size(headers, call.body) + DEAD_LETTER_ALLOWANCE
        if size > limit:
            room = max(0, limit - (size - len(call.body)))
            raise PayloadTooLarge(
                f"body: {len(call.body)} bytes; the message broker takes {room} with "
                f"these headers (its max_payload is {limit} bytes)"
            )

    @staticmethod
    def _call_headers(call: QueuedCall, dedupe_id: str) -> dict[str, str]:
        headers = call.nats_headers()
        headers["Nats-Msg-Id"] = dedupe_id
        return headers

    async def enqueue(self, call: QueuedCall, dedupe_id: str) -> bool:
        """Queue `call`, returning once JetStream has stored it; True if it was a
        duplicate of one stored within the idempotency window (not queued again)."""
        js = self._jetstream()
        self.check_size(call, dedupe_id)
        headers = self._call_headers(call, dedupe_id)
        ack = await self._call(
            "publish",
            lambda: js.publish(
                call_subject(call.function), call.body, headers=headers, stream=CALLS_STREAM
            ),
        )
        return bool(ack.duplicate)

    async def dead_letter(self, call: QueuedCall) -> None:
        """Store a dead-lettered call, waiting for JetStream's ack. It replaces an older
        copy of the same call (a redriven call that failed again, or a delivery again
        after a worker died before its ack); no message id, so nothing de-duplicates it
        away."""
        js = self._jetstream()
        headers = call.nats_headers()
        limit = self.max_payload
        if limit is not None and message_size(headers, call.body) > limit:
            # Sent anyway, the server would close the connection.
            raise PayloadTooLarge(f"dead-letter copy of {call.call_id}: over {limit} bytes")
        await self._call(
            "dead-letter",
            lambda: js.publish(
                dead_subject(call.call_id), call.body, headers=headers, stream=DEAD_STREAM
            ),
        )

    async def subscribe(
        self, ack_wait: float, max_ack_pending: int
    ) -> JetStreamContext.PullSubscription:
        """The queue worker's pull subscription on the shared durable consumer, brought
        to these settings first (it outlives workers on the broker's volume: a new
        `GATEWAY_ASYNC_ACK_WAIT` must reach it)."""
        js = self._jetstream()
        config = ConsumerConfig(
            name=WORKER_CONSUMER,
            durable_name=WORKER_CONSUMER,
            filter_subject=CALL_SUBJECT_PREFIX + ">",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max_ack_pending,
        )

        async def subscribe() -> JetStreamContext.PullSubscription:
            await js.add_consumer(CALLS_STREAM, config)  # creates, or updates in place
            return await js.pull_subscribe_bind(WORKER_CONSUMER, stream=CALLS_STREAM)

        return await self._call("subscribe", subscribe)

    async def pending(self) -> dict[str, int]:
        """Calls in the calls stream per function: queued, running or backing off, as a
        call stays there until a worker acks it. One stream-info request whatever the
        queue's length. A function is keyed as its subject spells it (`subject_token`):
        its name, unless that has characters a subject token cannot hold."""
        js = self._jetstream()
        info = await self._call(
            "stream info",
            lambda: js.stream_info(CALLS_STREAM, subjects_filter=CALL_SUBJECT_PREFIX + ">"),
        )
        return {
            subject.removeprefix(CALL_SUBJECT_PREFIX): count
            for subject, count in (info.state.subjects or {}).items()
            if count > 0
        }

    async def drop_acked_leftovers(self) -> int:
        """Remove calls the workers' consumer has acked that the stream still holds; how
        many. A work queue removes a call at its ack, but nats-server 2.9 killed at the
        wrong moment can bring acked calls back at its restart, below the consumer's ack
        floor, where they are never delivered again: they would count as queued forever
        (`queued_by_function`). Everything at or below the ack floor was acked."""
        js = self._jetstream()
        dropped = await self._call(
            "dropping acked calls",
            lambda: purge_below_ack_floor(js, CALLS_STREAM, WORKER_CONSUMER),
        )
        if dropped:
            log.warning("removed %d acked calls the calls stream still held", dropped)
        return dropped

    async def queued_by_function(self) -> dict[str, int]:
        """`pending`, or {} when not connected (what the autoscaler reads)."""
        return await self.pending() if self.ready else {}

    # Queue workers ------------------------------------------------------------------------

    async def announce_worker(self, worker_id: str) -> None:
        """Say that this queue worker runs: `live_workers` counts it for
        `WORKER_PRESENCE_SECONDS` (one message per worker, the last one kept)."""
        js = self._jetstream()
        await self._call(
            "worker presence",
            lambda: js.publish(
                WORKER_SUBJECT_PREFIX + worker_id,
                b"",
                stream=WORKERS_STREAM,
                timeout=self._config.publish_timeout,
            ),
        )

    async def withdraw_worker(self, worker_id: str) -> None:
        """Say that this queue worker stopped (a clean stop: not counted from now on)."""
        js = self._jetstream()
        await self._call(
            "worker presence",
            lambda: js.purge_stream(WORKERS_STREAM, subject=WORKER_SUBJECT_PREFIX + worker_id),
        )

    async def live_workers(self) -> int:
        """How many queue workers announced themselves within `WORKER_PRESENCE_SECONDS`."""
        js = self._jetstream()
        info = await self._call(
            "stream info",
            lambda: js.stream_info(WORKERS_STREAM, subjects_filter=WORKER_SUBJECT_PREFIX + ">"),
        )
        return len(info.state.subjects or {})

    # Status records -----------------------------------------------------------------------

    def _bucket(self) -> KeyValue:
        self._jetstream()
        if self._status is None:
            raise BrokerUnavailable("message broker unavailable: no status bucket yet")
        return self._status

    async def create_status(self, status: CallStatus) -> bool:
        """Store the first record of a call; False if one exists already."""
        bucket = self._bucket()
        try:
            await self._call("status", lambda: bucket.create(status.callId, status.encode()))
        except BrokerUnavailable as error:
            if isinstance(error.__cause__, nats.js.errors.KeyWrongLastSequenceError):
                return False
            raise
        return True

    async def put_status(self, status: CallStatus) -> None:
        """Store a call's record (replacing the last)."""
        bucket = self._bucket()
        await self._call("status", lambda: bucket.put(status.callId, status.encode()))

    async def delete_status(self, call_id: str) -> None:
        """Forget a call's record."""
        bucket = self._bucket()
        await self._call("status", lambda: bucket.delete(call_id))

    async def get_status(self, call_id: str) -> CallStatus | None:
        """A call's record, or None if there is none (unknown, or past its retention)."""
        bucket = self._bucket()

        async def get() -> bytes | None:
            try:
                entry = await bucket.get(call_id)
            except nats.js.errors.KeyNotFoundError:  # also deleted or purged keys
                return None
            return entry.value

        value = await self._call("status", get)
        if value is None:
            return None
        try:
            return CallStatus.decode(value)
        except ValueError:
            return None

    # The dead-letter queue -----------------------------------------------------------------

    async def dead_letters(self, limit: int, after: int = 0) -> DeadLetterPage:
        """Up to `limit` dead-lettered calls after stream sequence `after`, oldest first,
        without their bodies: headers only (an ephemeral headers-only consumer), and no
        more than `LIST_BYTES` of them or `LIST_SECONDS` in all; `next` says where the
        next page starts when there may be more."""
        js = self._jetstream()

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

        return await self._call("dead letters", collect)

    async def dead_letter_at(self, sequence: int) -> QueuedCall | None:
        """The dead-lettered call stored at `sequence`, with its body (None if gone)."""
        js = self._jetstream()

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

        return await self._call("dead letter", get)

    async def dead_letter_count(self) -> int:
        """How many calls the dead-letter queue holds."""
        js = self._jetstream()
        info = await self._call("stream info", lambda: js.stream_info(DEAD_STREAM))
        return info.state.messages

    async def dead_letter_by_id(self, call_id: str) -> QueuedCall | None:
        """One dead-lettered call, or None."""
        js = self._jetstream()

        async def get() -> QueuedCall | None:
            try:
                message = await js.get_last_msg(DEAD_STREAM, dead_subject(call_id))
            except nats.js.errors.NotFoundError:
                return None
            try:
                return QueuedCall.from_nats(message.headers, message.data or b"", message.seq)
            except ValueError:
                return None

        return await self._call("dead letter", get)

    async def remove_dead_letter(self, call: QueuedCall) -> None:
        """Drop this copy of a dead-lettered call (read from the stream, so with its
        sequence): a newer copy of the same call, stored since, stays."""
        js = self._jetstream()
        if call.sequence is None:
            raise ValueError("remove_dead_letter: a copy read from the dead-letter stream")
        sequence = call.sequence

        async def delete() -> None:
            try:
                await js.delete_msg(DEAD_STREAM, sequence)
            except nats.js.errors.APIError as error:
                if error.err_code != NO_MESSAGE_FOUND:  # else: replaced, or gone already
                    raise

        await self._call("delete", delete)

    async def purge_dead_letters(self) -> int:
        """Empty the dead-letter queue; how many calls it held."""
        count = await self.dead_letter_count()
        js = self._jetstream()
        await self._call("purge", lambda: js.purge_stream(DEAD_STREAM))
        return count


async def purge_below_ack_floor(js: JetStreamContext, stream: str, consumer: str) -> int:
    """Remove the messages of `stream` at or below `consumer`'s ack floor (all acked);
    how many (none while the consumer does not exist)."""
    try:
        info = await js.consumer_info(stream, consumer)
    except nats.js.errors.NotFoundError:
        return 0
    floor = info.ack_floor.stream_seq if info.ack_floor else None
    if not floor:
        return 0
    state = (await js.stream_info(stream)).state
    if state.messages == 0 or state.first_seq > floor:
        return 0
    await js.purge_stream(stream, seq=floor + 1)  # up to, not including, floor + 1
    return max(0, state.messages - (await js.stream_info(stream)).state.messages)


async def _add_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    """Create a stream, or bring an existing one to this configuration."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:  # exists with another configuration
        await js.update_stream(config)


__all__ = ["Broker", "Msg"]
