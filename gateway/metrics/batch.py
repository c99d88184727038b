"""Per-call metric updates held for one event-loop pass, then written together.

On the shared folder (prometheus-client's multiprocess mode) every increment is a write
to a memory-mapped file, under a lock and after a `getpid`: six of them per proxied call
were a measurable share of the gateway's CPU per call (docs/benchmarks.md). `CallBatch`
keeps the calls of one pass of the event loop in dicts and writes each series once, at
the end of that pass, so under load many calls share one write and a reader of the files
(another worker's `/metrics`, the autoscaler) is behind by at most that pass.

Calls in flight stay visible at once: a call to a function that the files show with no
call in flight is written before it is sent, so the autoscaler's park (docs/scaling.md)
never takes a busy function for an idle one. The files may show a call in flight a pass
longer than it lasted, never shorter. A worker killed with SIGKILL loses its last pass's
updates: the calls it answered in that pass are never counted (at most one per open
connection; the Go gateway, whose counters live in memory, loses them all on a crash).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable

from prometheus_client import Histogram

Write = Callable[[dict[str, int], dict[str, int], dict[tuple[str, int], list[float]]], None]
"""Writes (calls started, change of calls in flight, durations by (name, code)) to the
series: `GatewayMetrics`' side of a flush."""


class CallBatch:
    """The calls of this event-loop pass, by function (its `metric_name`), not yet written.

    Use on the loop's thread only. `flush` writes them at once (before a scrape, at
    shutdown); otherwise they are written at the end of the pass.
    """

    __slots__ = ("_finished", "_inflight", "_loop", "_scheduled", "_started", "_write", "_written")

    def __init__(self, loop: asyncio.AbstractEventLoop, write: Write) -> None:
        self._loop = loop
        self._write = write
        self._started: dict[str, int] = {}
        self._inflight: dict[str, int] = {}  # the change since the last write
        self._finished: dict[tuple[str, int], list[float]] = {}
        self._written: dict[str, int] = {}  # calls in flight as this process's files show
        self._scheduled = False

    def started(self, name: str) -> None:
        """A call to `name` is about to be sent."""
        self._started[name] = self._started.get(name, 0) + 1
        self._inflight[name] = self._inflight.get(name, 0) + 1
        if self._written.get(name, 0) <= 0:
            self.flush()  # idle as the files show it: it must read busy now
        elif not self._scheduled:
            self._schedule()

    def finished(self, name: str, code: int, seconds: float) -> None:
        """A call started with `started` ended with status `code` after `seconds`."""
        self._inflight[name] = self._inflight.get(name, 0) - 1
        durations = self._finished.get((name, code))
        if durations is None:
            self._finished[(name, code)] = [seconds]
        else:
            durations.append(seconds)
        if not self._scheduled:
            self._schedule()

    def forget(self, name: str) -> None:
        """`name`'s series are gone (nothing of it pending: `flush` first)."""
        self._written.pop(name, None)

    def flush(self) -> None:
        """Write every pending update now."""
        self._scheduled = False
        started, inflight, finished = self._started, self._inflight, self._finished
        if not (started or inflight or finished):
            return
        self._started, self._inflight, self._finished = {}, {}, {}
        written = self._written
        for name, change in inflight.items():
            written[name] = written.get(name, 0) + change
        self._write(started, inflight, finished)

    def _schedule(self) -> None:
        self._scheduled = True
        self._loop.call_soon(self._flush_scheduled)

    def _flush_scheduled(self) -> None:
        if self._scheduled:  # else flushed already since
            self.flush()


def observe_all(histogram: Histogram, durations: list[float]) -> None:
    """`histogram.observe` of each duration, with one write per bucket touched.

    Reads the labelled child's bounds and values as prometheus-client's own `observe`
    does (its upper bounds end with +Inf; a value goes to the first bound not below it).
    """
    bounds: list[float] = histogram._upper_bounds
    counts: dict[int, int] = {}
    for seconds in durations:
        index = bisect_left(bounds, seconds)
        counts[index] = counts.get(index, 0) + 1
    histogram._sum.inc(sum(durations))
    buckets = histogram._buckets
    for index, count in counts.items():
        buckets[index].inc(count)
