"""`CallQueue`: the queued calls, a JetStream work queue, and the consumer that takes them.

- `FAAS_ASYNC_CALLS` (subjects `faas.async.call.<function>`): queued calls. Work-queue
  retention (a call leaves the stream when a queue consumer acks it), file storage, and
  a de-duplication window: the idempotency window, keyed by `Nats-Msg-Id`. Bounded in
  calls, bytes and calls per function; at a bound it refuses new calls (discard new),
  never drops accepted ones: `enqueue` answers 429 (one function's bound) or 503.
- The durable pull consumer `faas-queue-worker` on the calls, which every queue consumer
  (every replica of the `queue-worker` service) shares.

A message must fit the server's `max_payload` (headers included) or the server drops the
connection: `check_size` refuses a call whose message, or its dead-lettered copy, would
not (413).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from gateway.async_calls.connection import (
    BYTES_HEADROOM,
    BrokerConnection,
    add_or_update,
    refusal,
    stored_bytes,
)
from gateway.async_calls.messages import (
    CALL_SUBJECT_PREFIX,
    DEAD_LETTER_ALLOWANCE,
    QueuedCall,
    call_subject,
    message_size,
)
from gateway.config import AsyncConfig
from gateway.errors import (
    BrokerFull,
    BrokerUnavailable,
    GatewayError,
    PayloadTooLarge,
    TooManyRequests,
)

log = logging.getLogger("gateway.async")

CALLS_STREAM = "FAAS_ASYNC_CALLS"
QUEUE_CONSUMER = "faas-queue-worker"
"""The durable consumer's name (kept on the broker's volume: it stays as it was named)."""


@dataclass(frozen=True)
class CallMessage:
    """A call's message, its size checked against the server's (`CallQueue.message`)."""

    call: QueuedCall
    headers: dict[str, str]
    size: int
    """Its bytes (`message_size`), which the stream's byte bound counts."""


class CallQueue:
    """Queue calls, and take them as a queue consumer, over `connection`."""

    def __init__(self, connection: BrokerConnection, config: AsyncConfig) -> None:
        self._connection = connection
        self._config = config
        connection.on_connect(self._ensure_stream)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        await add_or_update(
            js,
            StreamConfig(
                name=CALLS_STREAM,
                subjects=[CALL_SUBJECT_PREFIX + ">"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=self._config.idempotency_window,
                max_msgs=self._config.queue_max_calls,
                max_bytes=self._config.queue_max_bytes + BYTES_HEADROOM,
                max_msgs_per_subject=self._config.function_max_calls,
                discard=DiscardPolicy.NEW,
                discard_new_per_subject=True,
            ),
            keep=True,
        )

    def check_size(self, call: QueuedCall, dedupe_id: str) -> None:
        """`PayloadTooLarge` unless `call`'s message, and its dead-lettered copy, fit the
        server's `max_payload` (`BrokerUnavailable` when not connected)."""
        self._sized_headers(call, dedupe_id)

    def message(self, call: QueuedCall, dedupe_id: str) -> CallMessage:
        """`call`'s message, for `enqueue_many`, once `check_size` passed (which it
        raises otherwise)."""
        headers, size = self._sized_headers(call, dedupe_id)
        return CallMessage(call, headers, size)

    def _sized_headers(self, call: QueuedCall, dedupe_id: str) -> tuple[dict[str, str], int]:
        connection = self._connection
        connection.jetstream()
        limit = connection.max_payload
        if limit is None:
            raise BrokerUnavailable(f"message broker unavailable: {connection.problem}")
        headers = _call_headers(call, dedupe_id)
        size = message_size(headers, call.body)
        if size + DEAD_LETTER_ALLOWANCE > limit:
            room = max(0, limit - (size + DEAD_LETTER_ALLOWANCE - len(call.body)))
            raise PayloadTooLarge(
                f"body: {len(call.body)} bytes; the message broker takes {room} with "
                f"these headers (its max_payload is {limit} bytes)"
            )
        return headers, size

    async def enqueue(self, call: QueuedCall, dedupe_id: str) -> bool:
        """Queue `call`, returning once JetStream has stored it; True if it was a
        duplicate of one stored within the idempotency window (not queued again)."""
        js = self._connection.jetstream()
        self.check_size(call, dedupe_id)
        headers = _call_headers(call, dedupe_id)
        size = message_size(headers, call.body)
        if await stored_bytes(self._connection, CALLS_STREAM) + size > self._config.queue_max_bytes:
            raise self._full(call.function, "maximum bytes exceeded")
        return await self._publish(js, call, headers)

    async def enqueue_many(self, messages: Sequence[CallMessage]) -> list[bool | GatewayError]:
        """`enqueue` for each of `messages` (built by `message`, ahead if need be), the
        stream's bytes counted once for them all and the publishes in flight together
        (`BrokerConnection.publish_many`); per call, in order, what `enqueue` returns
        or raises. The byte bound holds for the batch: a call that would take the
        stream past it, with the calls before it, is refused."""
        if not messages:
            return []
        self._connection.jetstream()
        room = self._config.queue_max_bytes - await stored_bytes(self._connection, CALLS_STREAM)
        refused: dict[int, GatewayError] = {}
        sending: list[CallMessage] = []
        for index, message in enumerate(messages):
            if message.size > room:
                refused[index] = self._full(message.call.function, "maximum bytes exceeded")
                continue
            room -= message.size
            message.headers[Header.EXPECTED_STREAM] = CALLS_STREAM  # as `js.publish(stream=)`
            sending.append(message)
        acks = await self._connection.publish_many(
            [(call_subject(m.call.function), m.call.body, m.headers) for m in sending]
        )
        published = iter(
            self._full(message.call.function, refusal(ack.__cause__) or "")
            if isinstance(ack, BrokerFull)
            else ack
            for message, ack in zip(sending, acks, strict=True)
        )
        return [
            refused[index] if index in refused else next(published)
            for index in range(len(messages))
        ]

    async def _publish(
        self, js: JetStreamContext, call: QueuedCall, headers: dict[str, str]
    ) -> bool:
        try:
            ack = await self._connection.call(
                "publish",
                lambda: js.publish(
                    call_subject(call.function), call.body, headers=headers, stream=CALLS_STREAM
                ),
            )
        except BrokerFull as error:
            raise self._full(call.function, refusal(error.__cause__) or "") from error
        return bool(ack.duplicate)

    def _full(self, function: str, reason: str) -> BrokerUnavailable | TooManyRequests:
        """What the caller is told when the calls stream refused a call: which bound."""
        config = self._config
        if "per subject" in reason:
            return TooManyRequests(
                f"function {function!r} has {config.function_max_calls} async calls queued, "
                "its bound (GATEWAY_ASYNC_FUNCTION_MAX_CALLS): try again once some have run"
            )
        if "bytes" in reason:
            bound = f"{config.queue_max_bytes} bytes (GATEWAY_ASYNC_QUEUE_MAX_BYTES)"
        elif "messages" in reason:
            bound = f"{config.queue_max_calls} calls (GATEWAY_ASYNC_QUEUE_MAX_CALLS)"
        else:
            return BrokerFull(f"the async queue cannot take the call: {reason}")
        return BrokerFull(f"the async queue is full: it holds {bound}; try again later")

    async def subscribe(
        self, ack_wait: float, max_ack_pending: int
    ) -> JetStreamContext.PullSubscription:
        """A queue consumer's pull subscription on the shared durable consumer, brought
        to these settings first (it outlives queue consumers on the broker's volume: a new
        `GATEWAY_ASYNC_ACK_WAIT` must reach it)."""
        js = self._connection.jetstream()
        config = ConsumerConfig(
            name=QUEUE_CONSUMER,
            durable_name=QUEUE_CONSUMER,
            filter_subject=CALL_SUBJECT_PREFIX + ">",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max_ack_pending,
        )

        async def subscribe() -> JetStreamContext.PullSubscription:
            await js.add_consumer(CALLS_STREAM, config)  # creates, or updates in place
            return await js.pull_subscribe_bind(QUEUE_CONSUMER, stream=CALLS_STREAM)

        return await self._connection.call("subscribe", subscribe)

    async def pending(self) -> dict[str, int]:
        """Calls in the calls stream per function: queued, running or backing off, as a
        call stays there until a queue consumer acks it. One stream-info request whatever
        the queue's length. A function is keyed as its subject spells it (`subject_token`):
        its name, unless that has characters a subject token cannot hold."""
        js = self._connection.jetstream()
        info = await self._connection.call(
            "stream info",
            lambda: js.stream_info(CALLS_STREAM, subjects_filter=CALL_SUBJECT_PREFIX + ">"),
        )
        return {
            subject.removeprefix(CALL_SUBJECT_PREFIX): count
            for subject, count in (info.state.subjects or {}).items()
            if count > 0
        }

    async def drop_acked_leftovers(self) -> int:
        """Remove calls the queue consumers have acked that the stream still holds; how
        many. A work queue removes a call at its ack, but nats-server 2.9 killed at the
        wrong moment can bring acked calls back at its restart, below the consumer's ack
        floor, where they are never delivered again: they would count as queued forever
        (`queued_by_function`). Everything at or below the ack floor was acked."""
        js = self._connection.jetstream()
        dropped = await self._connection.call(
            "dropping acked calls",
            lambda: purge_below_ack_floor(js, CALLS_STREAM, QUEUE_CONSUMER),
        )
        if dropped:
            log.warning("removed %d acked calls the calls stream still held", dropped)
        return dropped

    async def queued_by_function(self) -> dict[str, int]:
        """`pending`, or {} when not connected (what the autoscaler reads)."""
        return await self.pending() if self._connection.ready else {}


def _call_headers(call: QueuedCall, dedupe_id: str) -> dict[str, str]:
    headers = call.nats_headers()
    headers["Nats-Msg-Id"] = dedupe_id
    return headers


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
