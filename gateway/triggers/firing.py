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
from gateway.async_calls.enqueue import call_id_for, store_call, store_calls
from gateway.async_calls.messages import QueuedCall
from gateway.config import AsyncConfig
from gateway.errors import GatewayError
from gateway.triggers.annotations import CRON_TOPIC, Trigger

CONNECTOR = "faas-triggers"
"""`X-Connector` of every call a trigger makes (OpenFaaS's connectors send theirs)."""


@dataclass(frozen=True)
class Firing:
    """One firing of one trigger of one function."""

    function: str
    trigger: Trigger
    key: str
    """Unique per occasion (a tick, a message): the call's de-duplication key."""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


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
    return Firing(function, trigger, tick_key(trigger, tick), trigger.body, tuple(headers))


def firing_call(firing: Firing) -> QueuedCall:
    """`firing` as an async call (POST /), its id derived from its key, started now."""
    call_id = call_id_for(firing.function, firing.key)
    now = time.time()
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
    return await store_calls(broker, config, [(firing_call(f), f.key) for f in firings])
