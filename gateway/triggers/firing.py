"""A trigger's firing, queued as an async call: one way in for cron ticks, broker
messages and a firing by hand, through the async path's `store_call` (so each gets its
retries, dead letters and status by id).

The call's id derives from its `key` (as an `X-Idempotency-Key` would): a firing queued
twice under one key (two schedulers, a new leader firing a tick the old one fired, a
message the broker delivered again) is one call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import (
    RecordedCall,
    call_id_for,
    queue_recorded,
    record_calls,
    store_call,
)
from gateway.async_calls.messages import QueuedCall
from gateway.config import AsyncConfig
from gateway.errors import GatewayError
from gateway.triggers.annotations import CRON_TOPIC, Trigger

CONNECTOR = "faas-triggers"
"""`X-Connector` of every call a trigger makes (OpenFaaS's connectors send theirs)."""
PREPARED_KEEP = 60.0
"""Seconds a prepared firing (`FiringQueue.prepare`) not queued since is remembered."""


@dataclass(frozen=True)
class Firing:
    """One firing of one trigger of one function."""

    function: str
    trigger: Trigger
    key: str
    """Unique per occasion (a tick, a message): the call's de-duplication key."""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    at: float | None = None
    """The moment it is for (a tick's scheduled moment, Unix seconds): its call counts
    as started then (`X-Start-Time`, the status's `queuedAt`); None: when queued."""


def tick_key(trigger: Trigger, tick: float) -> str:
    """The de-duplication key of one tick of a schedule."""
    return f"faas-trigger/{trigger.name}/{int(tick)}"


def tick_firing(function: str, trigger: Trigger, tick: float) -> Firing:
    """The firing of `trigger` (a schedule) for its tick at `tick` (Unix seconds)."""
    headers = [
        ("X-Connector", CONNECTOR),
        ("X-Trigger", trigger.name),
        ("X-Scheduled-Time", str(int(tick))),
    ]
    if trigger.openfaas:
        headers.append(("X-Topic", CRON_TOPIC))
    key = tick_key(trigger, tick)
    return Firing(function, trigger, key, trigger.body, tuple(headers), at=tick)


def firing_call(firing: Firing) -> QueuedCall:
    """`firing` as an async call (POST /), its id derived from its key, started at its
    moment (`Firing.at`) or now."""
    call_id = call_id_for(firing.function, firing.key)
    now = time.time() if firing.at is None else firing.at
    headers = (*firing.headers, ("X-Call-Id", call_id), ("X-Start-Time", str(int(now * 1e9))))
    return QueuedCall(
        call_id=call_id,
        function=firing.function,
        method="POST",
        path="/",
        headers=headers,
        body=firing.body,
        started_at=now,
    )


async def queue_firing(broker: Broker, config: AsyncConfig, firing: Firing) -> str:
    """Queue `firing` as an async call (POST /) once JetStream stored it; its call id."""
    return await store_call(broker, config, firing_call(firing), idempotency_key=firing.key)


async def queue_firings(
    broker: Broker, config: AsyncConfig, firings: Sequence[Firing]
) -> list[str | GatewayError]:
    """`queue_firing` for each of `firings` at once (`store_calls`: a cron tick's); per
    firing, in order, its call id or why it was not queued."""
    return await FiringQueue(broker, config).queue(firings)


class FiringQueue:
    """Queues firings as async calls, many at once (`store_calls`); a cron tick's can be
    prepared ahead (`prepare`: their status records written), so that at its moment
    only the messages are sent."""

    def __init__(self, broker: Broker, config: AsyncConfig) -> None:
        self._broker = broker
        self._config = config
        self._prepared: dict[tuple[str, str], tuple[float, RecordedCall | str]] = {}

    @property
    def prepared(self) -> int:
        """Firings prepared and not queued yet."""
        return len(self._prepared)

    async def prepare(self, firings: Sequence[Firing]) -> None:
        """Write the status records of `firings` now (`record_calls`), so that `queue`
        then only publishes them. One that fails here goes the whole way at `queue`."""
        now = time.time()
        calls = [(firing_call(firing), firing.key) for firing in firings]
        recorded = await record_calls(self._broker, self._config, calls)
        for firing, outcome in zip(firings, recorded, strict=True):
            if not isinstance(outcome, GatewayError):
                self._prepared[(firing.function, firing.key)] = (now, outcome)

    async def queue(self, firings: Sequence[Firing]) -> list[str | GatewayError]:
        """Queue `firings` (those `prepare`d: only published); per firing, in order,
        its call id or why it was not queued."""
        outcomes: list[RecordedCall | str | GatewayError | None] = []
        fresh: list[tuple[QueuedCall, str]] = []
        for firing in firings:
            _, prepared = self._prepared.pop((firing.function, firing.key), (0.0, None))
            if prepared is None:
                fresh.append((firing_call(firing), firing.key))
            outcomes.append(prepared)
        recorded = iter(await record_calls(self._broker, self._config, fresh))
        ready = [outcome if outcome is not None else next(recorded) for outcome in outcomes]
        publish = [outcome for outcome in ready if isinstance(outcome, RecordedCall)]
        queued = iter(await queue_recorded(self._broker, publish))
        self._forget_before(time.time() - PREPARED_KEEP)
        return [next(queued) if isinstance(o, RecordedCall) else o for o in ready]

    def _forget_before(self, moment: float) -> None:
        # A prepared firing never queued (the lease lost, the trigger removed before its
        # tick): its record stays, as another leader may have queued the call since.
        stale = [key for key, (at, _) in self._prepared.items() if at < moment]
        for key in stale:
            del self._prepared[key]
