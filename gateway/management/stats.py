"""`GET /system/stats`: each function's calls, errors and latency over the last minutes.

Computed from the gateway's own duration histogram (`GatewayMetrics.outcomes`), so the
web console needs neither Prometheus nor a parser for the exposition. `StatsHistory`
keeps a reading of those totals every few seconds, for a bounded time, taken only when
someone asks: a window's figures are the difference between now and the reading from
about `window` seconds ago (the start of the gateway, while it is younger than that).
With several worker processes each keeps its own readings of the same shared totals.
Latency quantiles are estimated from the buckets as Prometheus' `histogram_quantile`
does (linear within a bucket), so they are as coarse as the buckets.

A function with several versions (docs/versions.md) is listed once, under its own name,
with its versions' calls summed and each version's figures in `versions`; a version's
service is not listed on its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import (
    FunctionStats,
    RecentCalls,
    Stats,
    VersionStats,
)
from gateway.errors import BadRequest
from gateway.management.operations import System, answer
from gateway.metrics.series import Outcomes
from gateway.providers.base import Function

DEFAULT_WINDOW = 300
MAX_WINDOW = 900
READING_SPACING = 5.0  # seconds between two readings kept


@dataclass(frozen=True)
class StatsQuery:
    """What `GET /system/stats` was asked: the window in seconds, maybe one function."""

    window: int = DEFAULT_WINDOW
    name: str | None = None


def parse_stats_query(params: Mapping[str, str]) -> StatsQuery:
    """The query string (`window`, `name`); `BadRequest` naming the parameter if bad."""
    window = DEFAULT_WINDOW
    raw = params.get("window")
    if raw:
        if not (raw.isascii() and raw.isdecimal() and len(raw) <= 4) or not (
            0 < int(raw) <= MAX_WINDOW
        ):
            raise BadRequest(f"window: expected a whole number of seconds from 1 to {MAX_WINDOW}")
        window = int(raw)
    return StatsQuery(window, params.get("name") or None)


async def function_stats(request: Request, system: System) -> Response:
    """`GET /system/stats`."""
    query = parse_stats_query(request.query_params)
    subjects = stats_subjects(system.provider.functions())
    return answer(await system.stats.stats(query, subjects))


_Reading = tuple[float, Mapping[str, Outcomes]]
_NO_CALLS = Outcomes(0, 0, ())


def stats_subjects(functions: Sequence[Function]) -> dict[str, dict[str, str]]:
    """What `/system/stats` lists: each function by the name clients call it by
    (`<name>.<namespace>` in a namespace), with its versions (version: the `metric_name`
    its calls are counted by) when it has several, else none."""
    subjects: dict[str, dict[str, str]] = {}
    for function in functions:
        key = function.qualified_name or function.name
        if function.traffic is not None:
            versions = function.traffic.versions
            subjects[key] = {v: versions[v].metric_name for v in sorted(versions)}
        elif function.version_of is None:
            subjects[key] = {}
    return subjects


class StatsHistory:
    """Readings of the outcome totals, at least `spacing` seconds apart, for `keep`
    seconds (a reading that has not changed for a function shares the older object, so
    idle functions cost nothing)."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, Outcomes]],
        *,
        spacing: float = READING_SPACING,
        keep: float = MAX_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._spacing = spacing
        self._keep = keep
        self._clock = clock
        # The gateway's start: no calls yet.
        self._readings: deque[_Reading] = deque([(clock(), {})])

    async def stats(
        self, query: StatsQuery, names: Sequence[str] | Mapping[str, Mapping[str, str]]
    ) -> Stats:
        """The answer for `names` (the functions known now, with their versions as
        `stats_subjects` gives them), read off the event loop."""
        current = await asyncio.to_thread(self._read)
        now = self._clock()
        then, before = self._reading_before(now - query.window)
        self._remember(now, current)
        covered = now - then
        subjects = names if isinstance(names, Mapping) else {name: {} for name in names}
        listed = [n for n in subjects if n == query.name] if query.name is not None else subjects
        functions: list[FunctionStats] = []
        for name in listed:
            versions = subjects[name]
            if not versions:
                functions.append(
                    _function_stats(name, current.get(name), before.get(name), covered)
                )
                continue
            pairs = [_since(current.get(key), before.get(key)) for key in versions.values()]
            entry = _function_stats(
                name,
                _sum([now for now, _ in pairs]),
                _sum([then for _, then in pairs]),
                covered,
            )
            entry.versions = [
                VersionStats(version=version, **_figures(now, then, covered))
                for version, (now, then) in zip(versions, pairs, strict=True)
            ]
            functions.append(entry)
        return Stats(time=time.time(), window=round(covered, 3), functions=functions)

    def _reading_before(self, when: float) -> _Reading:
        """The newest reading at or before `when`, else the oldest one."""
        chosen = self._readings[0]
        for reading in self._readings:
            if reading[0] > when:
                break
            chosen = reading
        return chosen

    def _remember(self, now: float, current: Mapping[str, Outcomes]) -> None:
        if now - self._readings[-1][0] < self._spacing:
            return
        previous = self._readings[-1][1]
        kept: dict[str, Outcomes] = {}
        for name, outcomes in current.items():
            old = previous.get(name)
            kept[name] = old if old is not None and old == outcomes else outcomes
        self._readings.append((now, kept))
        # Keep one reading older than `keep`, so that a full window is always covered.
        while len(self._readings) > 1 and self._readings[1][0] <= now - self._keep:
            self._readings.popleft()


def _since(now: Outcomes | None, before: Outcomes | None) -> tuple[Outcomes, Outcomes]:
    """(the totals now, those at the window's start) of one series of calls."""
    if now is None:
        now = _NO_CALLS
    if before is None or before.calls > now.calls:  # none then, or counted again since
        before = _NO_CALLS
    return now, before


def _sum(outcomes: Sequence[Outcomes]) -> Outcomes:
    """Several versions' outcomes as one function's."""
    buckets: dict[float, int] = {}
    for outcome in outcomes:
        for bound, count in outcome.buckets:
            buckets[bound] = buckets.get(bound, 0) + count
    return Outcomes(
        sum(outcome.calls for outcome in outcomes),
        sum(outcome.errors for outcome in outcomes),
        tuple(sorted(buckets.items())),
    )


class _Figures(TypedDict):
    invocations: int
    errors: int
    recent: RecentCalls


def _figures(now: Outcomes, before: Outcomes, seconds: float) -> _Figures:
    earlier = dict(before.buckets)
    buckets = [(bound, count - earlier.get(bound, 0)) for bound, count in now.buckets]
    calls = now.calls - before.calls
    return _Figures(
        invocations=now.calls,
        errors=now.errors,
        recent=RecentCalls(
            invocations=calls,
            errors=max(now.errors - before.errors, 0),
            rate=round(calls / seconds, 4) if seconds > 0 else 0.0,
            p50=quantile(0.5, buckets),
            p99=quantile(0.99, buckets),
        ),
    )


def _function_stats(
    name: str, now: Outcomes | None, before: Outcomes | None, seconds: float
) -> FunctionStats:
    figures = _figures(*_since(now, before), seconds)
    return FunctionStats(
        name=name,
        invocations=figures["invocations"],
        errors=figures["errors"],
        recent=figures["recent"],
    )


def quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """The `q` quantile (0 to 1) of a histogram given as (upper bound, count in that
    bucket alone) by bound; None without calls.

    Linear within the bucket that holds it (from 0 for the first); in the last,
    unbounded bucket it is the largest finite bound.
    """
    total = sum(count for _, count in buckets)
    if total <= 0:
        return None
    rank = q * total
    lower, seen = 0.0, 0
    for bound, count in buckets:
        if count > 0 and seen + count >= rank:
            if math.isinf(bound):
                return lower
            return round(lower + (bound - lower) * (rank - seen) / count, 6)
        seen += count
        lower = bound if not math.isinf(bound) else lower
    return lower
