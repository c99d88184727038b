"""What a function's async backlog is worth to the autoscaler, in calls in flight.

Every call in the calls stream is one the queue consumers have still to finish, but a
consumer runs only so many of a function's calls at once: `com.faas.async.max_inflight`, and
never more than its own concurrency (`GATEWAY_ASYNC_CONCURRENCY`). A backlog beyond what
the running consumers take at once needs time or more consumers, not more replicas, so it
counts only up to that: a thousand queued calls scale a function as far as the consumers
keep it busy, not to its `max`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from gateway.async_calls.messages import subject_token
from gateway.labels import MAX_INFLIGHT_LABEL, parse_inflight
from gateway.providers.base import Function, FunctionView

if TYPE_CHECKING:
    from gateway.async_calls.broker import Broker


def max_inflight(function: Function) -> int | None:
    """The function's `com.faas.async.max_inflight` (per consumer), or None: no limit."""
    raw = function.labels.get(MAX_INFLIGHT_LABEL)
    return parse_inflight(raw) if raw else None


def runnable_at_once(function: Function, consumer_concurrency: int) -> int:
    """How many of this function's async calls one queue consumer runs at the same time."""
    limit = max_inflight(function)
    return min(limit, consumer_concurrency) if limit is not None else consumer_concurrency


def queued_load(
    queued: Mapping[str, int],
    functions: Iterable[Function],
    consumer_concurrency: int,
    consumers: int,
) -> dict[str, int]:
    """Per function name, its queued calls (`CallQueue.queued_by_function`, keyed by subject
    token) counted up to `runnable_at_once` for each of the `consumers` running; functions
    with none are left out. No consumer running: nothing counts (nothing would run).

    The consumers' concurrency is shared by every function: when the backlogs together ask
    for more than the consumers run at once, each gets its share of what they do run."""
    load: dict[str, int] = {}
    for function in functions:
        if function.job:  # its calls run as jobs (docs/jobs.md), not on replicas
            continue
        count = queued.get(subject_token(function.name), 0)
        bound = runnable_at_once(function, consumer_concurrency) * consumers
        if count > 0 and bound > 0:
            load[function.name] = min(count, bound)
    total, capacity = sum(load.values()), consumer_concurrency * consumers
    if total > capacity:
        load = {name: max(1, count * capacity // total) for name, count in load.items()}
    return load


def queued_calls(
    broker: Broker, provider: FunctionView, consumer_concurrency: int
) -> Callable[[], Awaitable[dict[str, int]]]:
    """What the autoscaler reads of the async queue: per deployed function, its queued
    calls up to what the running queue consumers take of them at once (`queued_load`)."""

    async def queued() -> dict[str, int]:
        counts = await broker.queue.queued_by_function()
        if not counts:
            return {}
        consumers = await broker.presence.running()
        return queued_load(counts, provider.functions(), consumer_concurrency, consumers)

    return queued
