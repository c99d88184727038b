"""Function logs for `GET /system/logs`: the query, the lines, and following new ones.

A provider reads a batch of lines (`FunctionProvider.logs`); following is done here by
reading again every `interval` seconds from the last timestamp seen. Docker's `since`
includes lines at exactly that time, so lines already sent at that timestamp are skipped.
Lines are sent as newline-delimited JSON with OpenFaaS's field names.

The query is what faas-cli sends (OpenFaaS's log request): `tail` absent or negative
(faas-cli's `--lines=-1`, its default) asks for every line, which is read as the newest
`MAX_TAIL` (the bound on what one request makes the gateway hold); `instance` keeps
one replica's lines (a task id, or the first characters of one as the lines show it).
Every value is checked here, `since` within `MAX_SINCE_AHEAD` of the gateway's clock, so
the engine is only asked what it can answer (what it still refuses is the provider's to
word: docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import BadRequest, FunctionNotFound, GatewayError
from gateway.management.operations import System
from gateway.providers.base import LogLine, engine_time

log = logging.getLogger("gateway.system")

MAX_TAIL = 10_000
INSTANCE_LENGTH = 12  # a task id as the lines show it (`LogLine.instance`)
TASK_ID_LENGTH = 25  # a whole Swarm task id (letters and digits)
MAX_SINCE_AHEAD = 300.0
"""How far ahead of the gateway's clock `since` may be (seconds): room for a client's
clock running ahead, not a time the engine would refuse in its own words."""
FOLLOW_INTERVAL = 1.0
TASK_ID_PATTERN = f"[A-Za-z0-9]{{1,{TASK_ID_LENGTH}}}"
"""What `instance` may be: a task id, or its first characters."""
_TASK_ID = re.compile(TASK_ID_PATTERN, re.ASCII)


@dataclass(frozen=True)
class LogQuery:
    """What to read: the last `tail` lines, none older than `since` (Unix seconds), only
    those of `instance` if given."""

    tail: int = MAX_TAIL
    since: float | None = None
    follow: bool = False
    instance: str | None = None

    def select(self, lines: Sequence[LogLine]) -> Sequence[LogLine]:
        """The lines of the instance asked for (all of them if none was)."""
        if not self.instance:
            return lines
        prefix = self.instance[:INSTANCE_LENGTH]
        return [line for line in lines if line.instance and line.instance.startswith(prefix)]


# (since as Docker's `seconds.nanoseconds`, at most this many lines) -> lines, oldest first
ReadLogs = Callable[[str | None, int | None], Awaitable[Sequence[LogLine]]]


async def function_logs(request: Request, system: System) -> Response:
    """`GET /system/logs`: newline-delimited JSON, kept open with `follow`."""
    await system.catch_up(request, None, request.query_params.get("name"))
    name = system.function_name(request, request.query_params.get("name"))
    query = parse_log_query(request.query_params)
    function = system.provider.lookup(name)
    if function is None:
        raise FunctionNotFound(name)
    asked_at = time.time()
    namespace = function.namespace or system.namespaces.default
    shown = function.display_name if function.namespace else None

    async def read(since: str | None, tail: int | None) -> Sequence[LogLine]:
        # One replica's lines are picked from the newest of all, then cut to `tail`.
        wanted = MAX_TAIL if query.instance else tail
        return query.select(await system.provider.logs(function.name, since, wanted))

    # The first read happens before answering, so a failure still gets its status.
    first = newest(await read(since_parameter(query.since), query.tail), query.tail)

    async def lines() -> AsyncIterator[bytes]:
        if not query.follow:
            for line in first:
                yield line.ndjson(namespace, shown)
            return
        start = since_seconds(query.since if query.since is not None else asked_at)
        try:
            async for line in follow(read, first, start):
                yield line.ndjson(namespace, shown)
        except GatewayError as error:
            # The status is sent already: end the stream, and say why in the log.
            log.warning("logs of %s: following stopped: %s", function.name, error.message)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def parse_log_query(params: Mapping[str, str], now: float | None = None) -> LogQuery:
    """The query string of `GET /system/logs` (`tail`, `since`, `follow`, `instance`);
    `BadRequest` names the parameter at fault. `name` and `namespace` are the caller's.
    `since` is from 1970 to `MAX_SINCE_AHEAD` seconds after `now` (the gateway's clock)."""
    tail = MAX_TAIL
    raw_tail = params.get("tail")
    if raw_tail:
        # Negative: all lines, as OpenFaaS reads faas-cli's default `--lines=-1` (here
        # the newest MAX_TAIL).
        digits = raw_tail.removeprefix("-")
        number = digits.isascii() and digits.isdecimal() and len(digits) <= 6
        if number and raw_tail.startswith("-"):
            tail = MAX_TAIL
        elif not number or not 0 < int(raw_tail) <= MAX_TAIL:
            raise BadRequest(
                f"tail: expected a whole number from 1 to {MAX_TAIL}, or -1 for the newest "
                f"{MAX_TAIL}"
            )
        else:
            tail = int(raw_tail)
    since = None
    raw_since = params.get("since")
    if raw_since:
        try:
            parsed = datetime.fromisoformat(raw_since)
            since = parsed.timestamp()
        except (ValueError, OverflowError):
            raise BadRequest(
                "since: expected an RFC 3339 time such as 2024-01-02T15:04:05Z"
            ) from None
        if parsed.tzinfo is None:
            raise BadRequest("since: the time needs a zone (Z or +hh:mm)")
        if since < 0:
            raise BadRequest("since: expected a time after 1970-01-01T00:00:00Z")
        if since > (time.time() if now is None else now) + MAX_SINCE_AHEAD:
            raise BadRequest(
                f"since: expected a time before now (at most {MAX_SINCE_AHEAD:g} s ahead of "
                "the gateway's clock)"
            )
    follow_value = params.get("follow", "false").lower()
    if follow_value not in ("true", "false", "1", "0"):
        raise BadRequest("follow: expected true or false")
    instance = params.get("instance") or None
    if instance is not None and not _TASK_ID.fullmatch(instance):
        raise BadRequest(
            f"instance: expected a task id, or its first characters (letters and digits, "
            f"at most {TASK_ID_LENGTH})"
        )
    return LogQuery(tail=tail, since=since, follow=follow_value in ("true", "1"), instance=instance)


def since_seconds(when: float) -> tuple[int, int]:
    """Unix seconds as (seconds, nanoseconds), the form `engine_time` returns."""
    seconds = int(when)
    return seconds, min(round((when - seconds) * 1e9), 999_999_999)


def since_parameter(when: tuple[int, int] | float | None) -> str | None:
    """Docker's `since` query value (`seconds.nanoseconds`) for a time, or None."""
    if when is None:
        return None
    if isinstance(when, tuple):
        return f"{when[0]}.{when[1]:09d}"
    return f"{when:.9f}"


def newest(lines: Sequence[LogLine], limit: int | None) -> list[LogLine]:
    """The `limit` newest lines (None: all) in time order (replicas' lines arrive
    interleaved)."""
    timed = sorted(lines, key=lambda line: engine_time(line.timestamp) or (0, 0))
    return timed if limit is None else timed[-limit:]


async def follow(
    read: ReadLogs,
    first: Sequence[LogLine],
    start: tuple[int, int],
    interval: float = FOLLOW_INTERVAL,
) -> AsyncIterator[LogLine]:
    """Yield `first`, then every newer line `read(since, MAX_TAIL)` finds, polling forever.

    `start` is where new lines begin if `first` has none later (the request's `since`,
    or the time of the request). A batch may interleave replicas out of time order, so
    each poll is filtered only against what earlier batches reached: lines after their
    latest time, and lines at exactly that time that were not sent yet. A polled line
    without a readable time cannot be placed, and is skipped.
    """
    latest = start
    sent_at_latest: set[tuple[str, str]] = set()
    for line in first:
        yield line
        when = engine_time(line.timestamp)
        if when is not None and when > latest:
            latest, sent_at_latest = when, set()
        if when == latest:
            sent_at_latest.add((line.instance, line.text))
    while True:
        await asyncio.sleep(interval)
        batch = await read(since_parameter(latest), MAX_TAIL)
        batch_latest, at_batch_latest = latest, set(sent_at_latest)
        for line in batch:
            when = engine_time(line.timestamp)
            key = (line.instance, line.text)
            if when is None or when < latest or (when == latest and key in sent_at_latest):
                continue
            yield line
            if when > batch_latest:
                batch_latest, at_batch_latest = when, set()
            if when == batch_latest:
                at_batch_latest.add(key)
        latest, sent_at_latest = batch_latest, at_batch_latest
