"""`BrokerConnection`: the one connection to NATS JetStream every part of async calls uses.

It connects in the background and reconnects by itself, also after the server closed
the connection for good (nats-py gives up then, e.g. after a protocol error): until it
is connected, every operation raises `BrokerUnavailable` at once with the reason (a 503,
never a fake accept). Each part that uses it (`call_queue`, `dead_letters`, `presence`,
`status_store`) registers the stream or bucket it needs (`on_connect`); they are put in
place at every connection, in the order registered. docs/async.md explains the design.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from gateway.config import AsyncConfig
from gateway.errors import BrokerFull, BrokerUnavailable, GatewayError

log = logging.getLogger("gateway.async")

RECONNECT_SECONDS = 1
STORE_REFUSED = 10077
"""JetStream's error code for a message a stream refused to store ('maximum messages
exceeded', 'maximum bytes exceeded', 'maximum messages per subject exceeded')."""
INSUFFICIENT_RESOURCES = 10023
"""JetStream's error code when the server has no storage left."""
BYTES_HEADROOM = 64 * 1024 * 1024
"""A stream's byte bound on the server is this much above the gateway's own, which the
gateway checks before it stores (`stored_bytes`): nats-server 2.9 lets a message in when
the bound minus what the stream holds is just above its size without its overhead, then
drops the oldest messages to make room, whatever the discard policy. The headroom is
for messages that pass the gateway's check at the same time."""
BATCH_IN_FLIGHT = 256
"""JetStream requests of one batch (a cron tick's calls: `store_calls`) in flight at
once: a tick with thousands of calls pipelines them, up to this many, instead of one
round trip after another."""

T = TypeVar("T")

Setup = Callable[[JetStreamContext], Awaitable[None]]
"""Puts one stream or bucket in place on a new connection."""


class BrokerConnection:
    """JetStream for async calls: opened by `start` (connects in the background), `close`."""

    def __init__(self, config: AsyncConfig, *, name: str) -> None:
        self._config = config
        self._name = name
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._setup: list[Setup] = []
        self._ready = asyncio.Event()
        self._problem = "not connected yet"
        self._connecting: asyncio.Task[None] | None = None
        self._closing = False
        self._generation = 0
        self._acks: dict[str, asyncio.Future[bool]] = {}
        self._acks_sent = 0
        self._acks_inbox: str | None = None
        self._acks_generation = 0

    def on_connect(self, setup: Setup) -> None:
        """Put a stream or bucket in place at every connection (before it counts as ready)."""
        self._setup.append(setup)

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

    def jetstream(self) -> JetStreamContext:
        """The JetStream context; `BrokerUnavailable` (with the reason) when not ready."""
        js = self._js
        if js is None or not self.ready:
            raise BrokerUnavailable(f"message broker unavailable: {self.problem}")
        return js

    def client(self) -> Client:
        """The NATS client (for subscriptions of its own: the trigger connector's);
        `BrokerUnavailable` (with the reason) when not ready. Compare `generation` to
        know when subscriptions made on an earlier connection are gone."""
        client = self._client
        if client is None or not self.ready:
            raise BrokerUnavailable(f"message broker unavailable: {self.problem}")
        return client

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one JetStream operation; its failure becomes `BrokerUnavailable`, or
        `BrokerFull` when a stream or bucket refused to store at its bound."""
        try:
            return await operation()
        except (nats.errors.Error, TimeoutError, OSError) as error:
            raise _failure(what, error) from error

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes, dict[str, str]]]
    ) -> list[bool | GatewayError]:
        """Publish each (subject, body, headers) of `messages` to JetStream, pipelined: up
        to `BATCH_IN_FLIGHT` awaiting their acks at once, answered on one inbox of this
        connection. Per message, in order: whether JetStream found it a duplicate, or
        the error `call` would raise for it (no ack within the publish timeout after
        the last one was sent: `BrokerUnavailable`)."""
        client = self.client()
        inbox = await self._ack_inbox(client)
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(BATCH_IN_FLIGHT)
        futures: list[asyncio.Future[bool]] = []
        outcomes: list[bool | GatewayError] = []
        try:
            for subject, body, headers in messages:
                if limit.locked():
                    await asyncio.wait_for(limit.acquire(), self._config.publish_timeout)
                else:
                    await limit.acquire()
                self._acks_sent += 1
                token = str(self._acks_sent)
                future: asyncio.Future[bool] = loop.create_future()
                future.add_done_callback(lambda _: limit.release())
                self._acks[token] = future
                futures.append(future)
                await client.publish(subject, body, reply=inbox + token, headers=headers)
            if futures:
                await asyncio.wait(futures, timeout=self._config.publish_timeout)
        except (nats.errors.Error, TimeoutError, OSError) as stopped:
            failure = _failure("publish", stopped)
        else:
            failure = _failure("publish", TimeoutError("no answer"))
        for future in futures:
            if not future.done() or future.cancelled():
                future.cancel()
                outcomes.append(failure)
                continue
            problem = future.exception()
            if problem is None:
                outcomes.append(future.result())
            elif isinstance(problem, nats.errors.Error | OSError):
                outcomes.append(_failure("publish", problem))
            else:
                outcomes.append(failure)
        self._acks = {t: f for t, f in self._acks.items() if not f.done()}
        outcomes += [failure] * (len(messages) - len(futures))
        return outcomes

    async def _ack_inbox(self, client: Client) -> str:
        """The subject prefix the acks of `publish_many` come back on (subscribed to
        once per connection)."""
        if self._acks_inbox is None or self._acks_generation != self._generation:
            inbox = client.new_inbox() + "."
            await client.subscribe(inbox + "*", cb=self._on_ack)
            self._acks_inbox, self._acks_generation = inbox, self._generation
        return self._acks_inbox

    async def _on_ack(self, message: Msg) -> None:
        future = self._acks.pop(message.subject.rpartition(".")[2], None)
        if future is None or future.done():
            return
        if message.headers and message.headers.get("Status") == "503":
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            answer = json.loads(message.data)
            if "error" in answer:
                nats.js.errors.APIError.from_error(answer["error"])  # raises it
            future.set_result(bool(answer.get("duplicate", False)))
        except (ValueError, nats.errors.Error) as error:
            future.set_exception(error)

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
            self._client, self._js = None, None
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
        js = self._js
        if js is None:
            return
        for setup in self._setup:
            await setup(js)


async def gather_bounded(
    operations: Sequence[Callable[[], Awaitable[T]]],
) -> list[T | GatewayError]:
    """Run `operations` concurrently, at most `BATCH_IN_FLIGHT` at once; each one's
    result or `GatewayError`, in order."""
    limit = asyncio.Semaphore(BATCH_IN_FLIGHT)

    async def one(operation: Callable[[], Awaitable[T]]) -> T | GatewayError:
        async with limit:
            try:
                return await operation()
            except GatewayError as error:
                return error

    return list(await asyncio.gather(*(one(operation) for operation in operations)))


def _failure(what: str, error: BaseException) -> GatewayError:
    """What a failed JetStream operation is to the gateway: `BrokerFull` when a stream
    or bucket refused to store at its bound, else `BrokerUnavailable`."""
    full = refusal(error)
    if full is not None:
        failure: GatewayError = BrokerFull(f"message broker full: {what}: {full}")
    else:
        reason = str(error) or type(error).__name__
        failure = BrokerUnavailable(f"message broker unavailable: {what}: {reason}")
    failure.__cause__ = error
    return failure


async def stored_bytes(connection: BrokerConnection, stream: str) -> int:
    """The bytes `stream` holds now."""
    js = connection.jetstream()
    info = await connection.call("stream info", lambda: js.stream_info(stream))
    return info.state.bytes


def refusal(error: BaseException | None) -> str | None:
    """The server's reason when `error` is its refusal to store a message because a
    bound is reached (e.g. 'maximum messages per subject exceeded'); None otherwise."""
    if not isinstance(error, nats.js.errors.APIError):
        return None
    code = getattr(error, "err_code", None)  # not set on some subclasses
    if code == INSUFFICIENT_RESOURCES:
        return "insufficient resources (the server's storage is full)"
    description = getattr(error, "description", None) or ""
    if code == STORE_REFUSED and "maximum" in description:
        return description
    return None


async def add_or_update(js: JetStreamContext, config: StreamConfig, *, keep: bool = False) -> None:
    """Create a stream, or bring an existing one to this configuration. `keep`: never
    below what the stream holds now (a server may trim a stream to lowered bounds,
    whatever its discard policy: messages it holds were accepted), and warn."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:  # exists with another configuration
        if keep:
            config = await not_below_contents(js, config)
        await js.update_stream(config)


async def not_below_contents(js: JetStreamContext, config: StreamConfig) -> StreamConfig:
    """`config` with its bounds raised to what the stream holds now, where it holds more."""
    assert config.name is not None
    per_subject = (config.max_msgs_per_subject or -1) > 0
    info = await js.stream_info(config.name, subjects_filter=">" if per_subject else None)
    state = info.state
    most = max((state.subjects or {}).values(), default=0)
    raised = dataclasses.replace(
        config,
        max_msgs=_at_least(config.max_msgs, state.messages),
        max_bytes=_at_least(config.max_bytes, state.bytes),
        max_msgs_per_subject=_at_least(config.max_msgs_per_subject, most) or -1,
    )
    if raised != config:
        log.warning(
            "stream %s holds more than its bounds: %d calls, %d bytes, %d on one subject "
            "(kept until it drains)",
            config.name,
            state.messages,
            state.bytes,
            most,
        )
    return raised


def _at_least(bound: int | None, held: int) -> int | None:
    """A bound (None or below 1: none) raised to `held`."""
    return max(bound, held) if bound is not None and bound > 0 else bound
