"""`NatsConnector`: NATS subjects as trigger topics, on the platform's NATS connection.

A topic a JetStream stream captures (`find_stream_name_by_subject`) is read through a
durable pull consumer of its own (`faas-triggers-<hash>`, explicit acks, shared by every
replica of the triggers service): a message is acked only once its calls are stored,
and one not acked within `ACK_WAIT` (a connector killed mid-stream) is delivered again,
with the same key (stream and sequence), so its calls are not stored twice. Any other
topic is a core NATS subscription in the queue group `faas-triggers` (one replica gets
each message): core NATS keeps nothing and has no acks, so a message that arrives while
no connector runs, or that the queue refuses, is lost; publish into a stream for at
least once (a stream made later is found within `STREAM_RECHECK_SECONDS`). The
platform's own subjects (`faas.`, `$`) are never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from gateway.async_calls.connection import BrokerConnection
from gateway.triggers.connectors import MAX_INFLIGHT_MESSAGES, BrokerMessage, queued_messages

log = logging.getLogger("gateway.triggers")

ACK_WAIT = 30.0
"""Seconds JetStream waits for a message's ack before it delivers it again."""
FETCH_BATCH = 16
"""Messages one pull asks for."""
QUEUE_GROUP = "faas-triggers"
STREAM_RECHECK_SECONDS = 30.0
"""How often a topic followed on core NATS is checked for a stream made since: it is then
read through the stream instead."""
RESERVED_PREFIXES = ("faas.", "$")
"""Subjects of the platform's own (the async queue) and the server's: never followed."""


def durable_name(topic: str) -> str:
    """The durable consumer of one topic (a name a consumer may have)."""
    return "faas-triggers-" + hashlib.sha256(topic.encode()).hexdigest()[:16]


async def _nothing() -> None:
    return None


class NatsConnector:
    """A `Connector` on the NATS server `connection` is connected to."""

    kind = "nats"

    def __init__(
        self,
        connection: BrokerConnection,
        *,
        ack_wait: float = ACK_WAIT,
        max_inflight: int = MAX_INFLIGHT_MESSAGES,
        stream_recheck: float = STREAM_RECHECK_SECONDS,
    ) -> None:
        self._connection = connection
        self._stream_recheck = stream_recheck
        self._ack_wait = ack_wait
        self._max_inflight = max_inflight
        self._queue: asyncio.Queue[BrokerMessage | None] = asyncio.Queue(max_inflight)
        self._core: dict[str, Subscription] = {}
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self._generation = -1
        self._recheck_due = time.monotonic() + stream_recheck
        self._warned: set[str] = set()

    async def subscribe(self, topics: frozenset[str]) -> None:
        """See `Connector.subscribe`."""
        client = self._connection.client()
        js = self._connection.jetstream()
        if self._connection.generation != self._generation:  # a new connection: all anew
            await self._drop(set(self._core) | set(self._pulls))
            self._generation = self._connection.generation
        wanted = {topic for topic in topics if not self._reserved(topic)}
        await self._drop((set(self._core) | set(self._pulls)) - wanted)
        if time.monotonic() >= self._recheck_due:
            self._recheck_due = time.monotonic() + self._stream_recheck
            captured = [topic for topic in self._core if await _stream_of(js, topic)]
            await self._drop(set(captured))  # followed again below, through the stream
        for topic in wanted - set(self._core) - set(self._pulls):
            stream = await _stream_of(js, topic)
            if stream is None:
                self._core[topic] = await client.subscribe(
                    topic, queue=QUEUE_GROUP, cb=self._core_message(topic)
                )
                continue
            config = ConsumerConfig(
                durable_name=durable_name(topic),
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait,
                max_ack_pending=self._max_inflight,
                max_deliver=-1,
            )
            pull = await js.pull_subscribe(
                topic, durable=durable_name(topic), stream=stream, config=config
            )
            self._pulls[topic] = asyncio.create_task(self._pull(topic, pull))

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """See `Connector.messages`."""
        return queued_messages(self._queue)

    async def close(self) -> None:
        """See `Connector.close`."""
        await self._drop(set(self._core) | set(self._pulls))
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def _reserved(self, topic: str) -> bool:
        if not topic.startswith(RESERVED_PREFIXES):
            return False
        if topic not in self._warned:
            self._warned.add(topic)
            log.warning("nats: topic %r is the platform's own subject: not followed", topic)
        return True

    async def _drop(self, topics: set[str]) -> None:
        for topic in topics:
            subscription = self._core.pop(topic, None)
            if subscription is not None:
                with contextlib.suppress(Exception):  # gone with its connection
                    await subscription.unsubscribe()
            task = self._pulls.pop(topic, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _core_message(self, topic: str) -> Callable[[Msg], Awaitable[None]]:
        async def received(msg: Msg) -> None:
            await self._queue.put(
                BrokerMessage(topic, msg.subject, dict(msg.headers or {}), msg.data, None,
                              _nothing, _nothing)
            )  # fmt: skip

        return received

    async def _pull(self, topic: str, pull: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                batch = await pull.fetch(FETCH_BATCH, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as error:  # the connection is away: wait for it
                log.debug("nats: pulling %s: %r", topic, error)
                await asyncio.sleep(1.0)
                continue
            for msg in batch:
                meta = msg.metadata
                await self._queue.put(
                    BrokerMessage(
                        topic,
                        msg.subject,
                        dict(msg.headers or {}),
                        msg.data,
                        f"{meta.stream}.{meta.sequence.stream}",
                        msg.ack,
                        msg.nak,
                    )
                )


async def _stream_of(js: JetStreamContext, topic: str) -> str | None:
    """The stream that captures `topic`, if one does."""
    try:
        return await js.find_stream_name_by_subject(topic)
    except nats.js.errors.NotFoundError:
        return None
