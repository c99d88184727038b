"""Broker topics as triggers: the `Connector` interface every broker implements, and the
`TopicRouter` that turns each message into an async call of every function naming its
topic (docs/triggers.md).

A connector knows one broker (NATS: `nats_source`, MQTT: `mqtt_source`; a Kafka source
would be a third module implementing `Connector`, nothing else changes): it follows the
topics it is given and yields `BrokerMessage`s. The router acks a message only after the
queue stored the calls of every subscribing function (at least once from the broker to
the queue), naks it when one was refused, and holds at most `MAX_INFLIGHT_MESSAGES`
messages at once. A call's key is the message's own id where the broker keeps one across
redeliveries (JetStream's stream and sequence): a message delivered again after a crash
is then stored once per function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import GatewayError
from gateway.providers.base import Function
from gateway.triggers.annotations import Trigger, parse_triggers
from gateway.triggers.firing import CONNECTOR, Firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.versions.model import VERSION_OF_LABEL

log = logging.getLogger("gateway.triggers")

MAX_INFLIGHT_MESSAGES = 64
"""Messages a router holds at once (read, not yet acked or naked)."""
REFRESH_SECONDS = 1.0
"""How often the topics the functions name are read again and followed."""
MAX_PASSED_HEADERS = 32
"""A message's headers passed on to the function, at most (valid names only)."""
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", re.ASCII)
_NOT_PASSED = frozenset({"content-length", "host", "connection", "transfer-encoding"})


@dataclass(frozen=True)
class BrokerMessage:
    """One message from a broker, as a connector hands it over."""

    topic: str
    """The topic followed, as a function's trigger names it (wildcards included)."""
    subject: str
    """Where it was published (the topic, or what matched its wildcards)."""
    headers: Mapping[str, str]
    body: bytes
    key: str | None
    """The message's id if the broker gives the same one to a redelivery."""
    ack: Callable[[], Awaitable[None]]
    nak: Callable[[], Awaitable[None]]


class Connector(Protocol):
    """A broker's topics, followed."""

    kind: str
    """`nats`, `mqtt`: the `X-Connector` suffix and the metrics' name."""

    async def subscribe(self, topics: frozenset[str]) -> None:
        """Follow exactly `topics` from now on (new ones added, gone ones dropped)."""

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """The messages of the topics followed, as they come, until `close`."""

    async def close(self) -> None:
        """Stop following; unacked messages are the broker's to deliver again."""


async def queued_messages(
    queue: asyncio.Queue[BrokerMessage | None],
) -> AsyncIterator[BrokerMessage]:
    """A connector's messages as its reader puts them in `queue`, until a None ends them
    (what both connectors' `messages` are)."""
    while True:
        message = await queue.get()
        if message is None:
            return
        yield message


def topic_triggers(functions: Iterable[Function]) -> dict[str, list[tuple[str, Trigger]]]:
    """Each topic the functions' triggers name, and the (function, trigger)s naming it."""
    found: dict[str, list[tuple[str, Trigger]]] = {}
    for function in functions:
        if VERSION_OF_LABEL in function.labels:
            continue
        triggers, _ = parse_triggers(function.labels)
        for trigger in triggers:
            for topic in trigger.topics:
                found.setdefault(topic, []).append((function.name, trigger))
    return found


def passed_headers(message: BrokerMessage) -> tuple[tuple[str, str], ...]:
    """The headers a message's calls carry: its own (valid names, at most
    `MAX_PASSED_HEADERS`), then `X-Topic` (where it was published) and `X-Connector`."""
    own = [
        (name, value.replace("\r", " ").replace("\n", " "))
        for name, value in message.headers.items()
        if _HEADER_NAME.fullmatch(name)
        and name.lower() not in _NOT_PASSED
        and not name.lower().startswith(("x-topic", "x-connector", "x-call-id", "nats-"))
    ][:MAX_PASSED_HEADERS]
    return (*own, ("X-Topic", message.subject))


class TopicRouter:
    """Delivers a connector's messages to the functions whose topics name them."""

    def __init__(
        self,
        functions: Callable[[], Iterable[Function]],
        fire: Callable[[Firing], Awaitable[object]],
        metrics: TriggerMetrics,
        *,
        max_inflight: int = MAX_INFLIGHT_MESSAGES,
    ) -> None:
        self._functions = functions
        self._fire = fire
        self._metrics = metrics
        self._subscribers: dict[str, list[tuple[str, Trigger]]] = {}
        self._limit = asyncio.Semaphore(max_inflight)
        self._tasks: set[asyncio.Task[None]] = set()

    def refresh(self) -> frozenset[str]:
        """Read the functions' topics again; the topics to follow."""
        self._subscribers = topic_triggers(self._functions())
        return frozenset(self._subscribers)

    async def run(self, connector: Connector, stop: asyncio.Event) -> None:
        """Follow the functions' topics on `connector` and deliver its messages until
        `stop` is set (messages in hand are finished first)."""
        following = asyncio.create_task(self._follow(connector, stop))
        reading = asyncio.create_task(self._read(connector))
        try:
            await stop.wait()
        finally:
            for task in (following, reading):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if not stop.is_set():  # cancelled (killed): messages in hand stay unacked
                for task in self._tasks:
                    task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await connector.close()

    async def _follow(self, connector: Connector, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await connector.subscribe(self.refresh())
                failing = False
            except Exception as error:  # a broker away: the next pass tries again
                if not failing:  # once until it works again
                    log.warning("%s: cannot follow the topics: %r", connector.kind, error)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)

    async def _read(self, connector: Connector) -> None:
        async for message in connector.messages():
            await self._limit.acquire()  # the bound: a message more waits in the broker
            task = asyncio.create_task(self.deliver(connector.kind, message))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._limit.release()

    async def deliver(self, kind: str, message: BrokerMessage) -> None:
        """Queue `message` for each function naming its topic; ack once all are stored,
        nak if one was refused (the broker delivers it again)."""
        received = time.time()
        key = message.key or uuid.uuid4().hex
        headers = (*passed_headers(message), ("X-Connector", f"{CONNECTOR}/{kind}"))
        subscribers = self._subscribers.get(message.topic, [])
        firings = [
            Firing(
                function,
                trigger,
                f"faas-topic/{trigger.name}/{key}",
                message.body,
                (*headers, ("X-Trigger", trigger.name)),
            )
            for function, trigger in subscribers
        ]
        outcomes = await asyncio.gather(
            *(self._fire(firing) for firing in firings), return_exceptions=True
        )
        refused = False
        for firing, outcome in zip(firings, outcomes, strict=True):
            labels = (firing.function, firing.trigger.name)
            if isinstance(outcome, GatewayError):
                refused = True
                self._metrics.failed.labels(*labels).inc()
                log.warning(
                    "%s: %s not queued for %s: %s", kind, message.subject, firing.function, outcome
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                self._metrics.fired.labels(*labels).inc()
                self._metrics.lag.labels(*labels).observe(max(0.0, time.time() - received))
        with contextlib.suppress(Exception):  # a connection gone: redelivered later
            await (message.nak() if refused else message.ack())
