"""Prometheus metrics, named like the OpenFaaS gateway's so its dashboards work unchanged.

Each app gets its own `CollectorRegistry` (no global state; tests build several apps).
`GatewayMetrics` is an invocation notifier for the proxy and the scaling metrics for the
`Scaler`; a leaf, it imports no other part of the gateway (it reads the functions through
the small `FunctionList` protocol).
`function_name` is always the function's full (canonical) name, and only functions the
provider knows get series, so callers cannot grow the label set with made-up names.

prometheus-client always appends `_total` to counters, but OpenFaaS exposes
`gateway_function_invocation_started` without it; that one series is exposed untyped under
its exact OpenFaaS name (`rate()` works on it as on any counter).

With several worker processes (`shared_dir` set: prometheus-client's multiprocess mode,
`PROMETHEUS_MULTIPROC_DIR` pointing at the same folder, set before prometheus-client is
imported), every worker writes its values to its own files there and the exposition any
worker serves is the sum over all of them (`SharedView`); a dead worker's counts stay,
its calls in flight do not (`mark_process_dead`).
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import struct
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COLD_START_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

# The `_created` series add a third of the samples and nothing the OpenFaaS dashboards
# use, and made scrapes of many functions measurably slower (docs/benchmarks.md).
disable_created_metrics()  # type: ignore[no-untyped-call]


class _NamedReplicas(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def replicas(self) -> int: ...


class FunctionList(Protocol):
    """The provider's view, as far as the metrics read it."""

    def functions(self) -> Sequence[_NamedReplicas]:
        """Every function currently known (with its name and desired replicas)."""


class _ProviderCollector(Collector):
    """Series computed at scrape time: replicas from the provider, and started calls."""

    def __init__(self, provider: FunctionList, started: dict[str, int]) -> None:
        self._provider = provider
        self._started = started

    def collect(self) -> Iterator[Metric]:
        service_count = GaugeMetricFamily(
            "gateway_service_count",
            "Desired replicas of each function, as the provider reports them.",
            labels=["function_name"],
        )
        for function in self._provider.functions():
            service_count.add_metric([function.name], function.replicas)
        yield service_count
        started = UnknownMetricFamily(
            "gateway_function_invocation_started",
            "Function invocations started (a counter).",
            labels=["function_name"],
        )
        # A copy, taken atomically: scrapes run in a worker thread while the loop counts.
        for name, count in sorted(self._started.copy().items()):
            started.add_metric([name], count)
        yield started


class GatewayMetrics:
    """The gateway's metrics and its registry; the proxy reports each invocation here."""

    def __init__(self, provider: FunctionList, shared_dir: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.shared = SharedView(shared_dir) if shared_dir is not None else None
        self._started: dict[str, int] = {}
        self._finished: dict[str, int] = {}
        self._invocations = Counter(
            "gateway_function_invocation",
            "Function invocations, by final status code.",
            ["function_name", "code"],
            registry=self.registry,
        )
        self._seconds = Histogram(
            "gateway_functions_seconds",
            "Time from routing an invocation to the end of its response, in seconds.",
            ["function_name", "code"],
            registry=self.registry,
        )
        self._inflight = Gauge(
            "gateway_function_invocation_inflight",
            "Function invocations in progress.",
            ["function_name"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._scale_events = Counter(
            "gateway_scale_events",
            "Replica changes made by the gateway (autoscaler, scale from zero, alerts).",
            ["function_name", "direction"],
            registry=self.registry,
        )
        self._scale_target = Gauge(
            "gateway_scale_target_replicas",
            "Replicas the gateway last set for each function it scaled.",
            ["function_name"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self._cold_start = Histogram(
            "gateway_cold_start_seconds",
            "Time from a call finding a function at 0 replicas to a replica being ready.",
            ["function_name"],
            buckets=COLD_START_BUCKETS,
            registry=self.registry,
        )
        self._leader: Gauge | None = None  # made by the autoscaler's first report
        self.registry.register(_ProviderCollector(provider, self._started))
        if self.shared is not None:
            # Started calls go to the shared files too (the dict above is this worker's).
            self._started_shared = Counter(
                STARTED, "Function invocations started.", ["function_name"], registry=None
            )
            self._started_children: dict[str, Counter] = {}
        self._provider = provider
        # Labelled children, cached: `.labels()` costs a lock and a tuple on every call.
        self._inflight_children: dict[str, Gauge] = {}
        self._outcome_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._scaled: set[str] = set()  # functions with scaling or cold-start series

    def invocation_started(self, function_name: str) -> None:
        """Count a call that was routed to a known function and is about to be sent."""
        self._started[function_name] = self._started.get(function_name, 0) + 1
        inflight = self._inflight_children.get(function_name)
        if inflight is None:
            inflight = self._inflight_children[function_name] = self._inflight.labels(function_name)
        inflight.inc()
        if self.shared is not None:
            started = self._started_children.get(function_name)
            if started is None:
                started = self._started_children[function_name] = self._started_shared.labels(
                    function_name
                )
            started.inc()

    def invocation_finished(self, function_name: str, code: int, seconds: float) -> None:
        """Record how a call started with `invocation_started` ended."""
        self._inflight_children[function_name].dec()
        self._finished[function_name] = self._finished.get(function_name, 0) + 1
        outcome = self._outcome_children.get((function_name, code))
        if outcome is None:
            labels = (function_name, str(code))
            outcome = self._outcome_children[(function_name, code)] = (
                self._invocations.labels(*labels),
                self._seconds.labels(*labels),
            )
        invocations, seconds_histogram = outcome
        invocations.inc()
        seconds_histogram.observe(seconds)

    def forget_removed(self, known: Collection[str]) -> list[str]:
        """Drop every series of functions not in `known` (call on the event loop).

        Without this, the series of each function ever removed would stay in every scrape
        until the gateway restarts. A function with calls still in flight keeps its series
        until a later call. Returns the names forgotten. With several workers the shared
        exposition leaves out every function not in `known` with no call in flight.
        """
        if self.shared is not None:
            self.shared.known = frozenset(known)
        gone = [
            name
            for name in self._started.keys() | self._scaled
            if name not in known and self._started.get(name, 0) == self._finished.get(name, 0)
        ]
        for name in gone:
            self._started.pop(name, None)
            self._finished.pop(name, None)
            if self.shared is not None and self._started_children.pop(name, None) is not None:
                self._started_shared.remove(name)
            self._scaled.discard(name)
            if self._inflight_children.pop(name, None) is not None:
                self._inflight.remove(name)
            for key in [key for key in self._outcome_children if key[0] == name]:
                del self._outcome_children[key]
                self._invocations.remove(name, str(key[1]))
                self._seconds.remove(name, str(key[1]))
            for metric, labels in (
                (self._scale_events, (name, "up")),
                (self._scale_events, (name, "down")),
                (self._scale_target, (name,)),
                (self._cold_start, (name,)),
            ):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)
        return gone

    def invocation_counts(self) -> dict[str, int]:
        """Calls started per function since the gateway started (for `/system/functions`)."""
        if self.shared is not None:
            return {name: started for name, (started, _) in self.shared.load().items()}
        return self._started.copy()

    def scale_event(self, function_name: str, direction: str, replicas: int) -> None:
        """Count a replica change the gateway made (`direction`: up or down)."""
        self._scaled.add(function_name)
        self._scale_events.labels(function_name, direction).inc()
        self._scale_target.labels(function_name).set(replicas)

    def autoscaler_leader(self, leading: bool) -> None:
        """Record whether this process runs the autoscaler now: 1 in that one process,
        so the sum over the workers is 0 or 1 and shows which of several gateways decides."""
        if self._leader is None:
            self._leader = Gauge(
                LEADER,
                "Whether this gateway runs the autoscaler (holds the workers' lock and the "
                "cluster's lease).",
                registry=self.registry,
                multiprocess_mode="livesum",
            )
        self._leader.set(1 if leading else 0)

    def cold_start(self, function_name: str, seconds: float) -> None:
        """Record how long a function took to get a ready replica from 0."""
        self._scaled.add(function_name)
        self._cold_start.labels(function_name).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every series (thread-safe: scrapes run off the loop)."""
        if self.shared is not None:
            return self.shared.exposition(self._provider)
        return generate_latest(self.registry)


STARTED = "gateway_function_invocation_started"
INFLIGHT = "gateway_function_invocation_inflight"
SERVICE_COUNT = "gateway_service_count"
LEADER = "gateway_autoscaler_leader"
_INT = struct.Struct("i").unpack_from
_TWO_DOUBLES = struct.Struct("dd").unpack_from


@dataclass(frozen=True)
class _Series:
    """One key of prometheus-client's metric files, parsed once and kept."""

    metric: str
    kind: str  # counter, gauge or histogram (from the file's name)
    sample: str
    help: str
    function_name: str
    labels: str  # rendered, without `le`
    le: tuple[float, str] | None  # a histogram bucket's bound, as a number and as text


@dataclass
class _FileIndex:
    """Where each entry of one metric file keeps its value: entries only ever get appended,
    so a file is parsed once and later scrapes read the new entries and the values."""

    mostrecent: bool
    parsed_to: int = 8
    slots: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # in doubles from the file's start
    values: Callable[[Any], tuple[float, ...]] | None = None


@dataclass
class _Row:
    """One line of the exposition (or one histogram: its buckets, count and sum)."""

    function_name: str
    prefix: str
    slot: int
    buckets: list[tuple[int, str]] = field(default_factory=list)
    count_prefix: str = ""
    sum_slot: int = -1


class SharedView:
    """The series of every worker process, summed from prometheus-client's files in `path`.

    Read and rendered here rather than by prometheus-client's `MultiProcessCollector`,
    which took several times the target for a scrape of 200 functions (docs/benchmarks.md):
    each file is parsed once (entries are only appended), each series gets a slot, and a
    scrape adds up the values slot by slot and writes the text from lines prepared once.
    `known`: the functions the provider knows (set by `forget_removed`); the series of any
    other function are left out once no call to it is in flight.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.known: frozenset[str] | None = None
        self._slots: dict[tuple[str, bytes], int] = {}
        self._series: list[_Series] = []
        self._files: dict[str, _FileIndex] = {}
        self._plan: list[tuple[str, list[_Row]]] = []
        self._planned = -1  # series count the plan was made for
        self._lock = threading.Lock()  # scrapes run on worker threads

    def load(self) -> dict[str, tuple[int, int]]:
        """(calls started, calls in flight) per function, over every worker."""
        with self._lock:
            totals = self._read(("counter_", "gauge_livesum_"))
            load: dict[str, tuple[int, int]] = {}
            for slot, series in enumerate(self._series):
                if series.metric == STARTED:
                    started, inflight = load.get(series.function_name, (0, 0))
                    load[series.function_name] = (int(totals[slot]), inflight)
                elif series.metric == INFLIGHT:
                    started, inflight = load.get(series.function_name, (0, 0))
                    load[series.function_name] = (started, int(totals[slot]))
            return load

    def exposition(self, provider: FunctionList) -> bytes:
        """The Prometheus text format of every worker's series, and the provider's replicas."""
        with self._lock:
            totals = self._read(("counter_", "gauge_", "histogram_"))
            if self._planned != len(self._series):
                self._make_plan()
            keep = self._keep(totals)
            out: list[str] = []
            for header, rows in self._plan:
                out.append(header)
                for row in rows:
                    if not keep(row.function_name):
                        continue
                    if row.sum_slot < 0:
                        out.append(f"{row.prefix}{_number(totals[row.slot])}\n")
                        continue
                    total = 0.0
                    for slot, prefix in row.buckets:
                        total += totals[slot]
                        out.append(f"{prefix}{_number(total)}\n")
                    out.append(f"{row.count_prefix}{_number(total)}\n")
                    out.append(f"{row.prefix}{_number(totals[row.sum_slot])}\n")
        out.append(
            f"# HELP {SERVICE_COUNT} Desired replicas of each function, as the provider "
            f"reports them.\n# TYPE {SERVICE_COUNT} gauge\n"
        )
        for function in provider.functions():
            labels = _render_labels({"function_name": function.name})
            out.append(f"{SERVICE_COUNT}{{{labels}}} {_number(function.replicas)}\n")
        return "".join(out).encode()

    def _keep(self, totals: list[float]) -> Callable[[str], bool]:
        known = self.known
        if known is None:
            return lambda name: True
        busy = {
            series.function_name
            for slot, series in enumerate(self._series)
            if series.metric == INFLIGHT and totals[slot] > 0
        }
        # "": a series of the gateway itself (no function_name label), always kept.
        return lambda name: not name or name in known or name in busy

    def _read(self, prefixes: tuple[str, ...]) -> list[float]:
        """The value of every slot, summed over the files (the latest, for `mostrecent`)."""
        totals: list[float] = []
        stamps: dict[int, float] = {}
        present: set[str] = set()
        for entry in os.scandir(self.path):
            if not entry.name.endswith(".db"):
                continue
            present.add(entry.path)
            if not entry.name.startswith(prefixes):
                continue
            try:
                with open(entry.path, "rb") as file:
                    data = file.read()
            except FileNotFoundError:
                continue  # a dead worker's in-flight gauges, just retired
            index = self._files.get(entry.path)
            if index is None:
                index = self._files[entry.path] = _FileIndex(
                    mostrecent=entry.name.startswith("gauge_mostrecent_")
                )
            self._index(entry.name, index, data)
            if len(totals) < len(self._series):
                totals.extend([0.0] * (len(self._series) - len(totals)))
            if not index.slots or index.values is None:
                continue
            doubles = memoryview(data)[: len(data) // 8 * 8].cast("d")
            values = index.values(doubles)
            if index.mostrecent:
                for slot, offset, value in zip(index.slots, index.offsets, values, strict=True):
                    if doubles[offset + 1] >= stamps.get(slot, -1.0):
                        totals[slot] = value
                        stamps[slot] = doubles[offset + 1]
                continue
            for slot, value in zip(index.slots, values, strict=True):
                totals[slot] += value
        for path in self._files.keys() - present:
            del self._files[path]
        totals.extend([0.0] * (len(self._series) - len(totals)))
        return totals

    def _index(self, file_name: str, index: _FileIndex, data: bytes) -> None:
        """Parse the entries appended to a file since the last scrape."""
        if len(data) < 8:
            return
        kind = file_name.partition("_")[0]
        used = min(_INT(data, 0)[0], len(data))
        position = index.parsed_to
        grew = False
        while position + 4 <= used:
            length = _INT(data, position)[0]
            start = position + 4
            value_at = start + length + (8 - (length + 4) % 8)
            if value_at + 16 > used:
                break  # an entry being written right now
            key = data[start : start + length]
            slot = self._slots.get((kind, key))
            if slot is None:
                slot = self._slots[(kind, key)] = len(self._series)
                self._series.append(_parse_key(kind, key))
            index.slots.append(slot)
            index.offsets.append(value_at // 8)
            position = value_at + 16
            grew = True
        index.parsed_to = position
        if grew:
            getter = operator.itemgetter(*index.offsets)
            if len(index.offsets) == 1:
                index.values = lambda doubles: (getter(doubles),)
            else:
                index.values = getter

    def _make_plan(self) -> None:
        """The exposition's families and rows, in a stable order, for the slots known."""
        families: dict[str, list[int]] = {}
        for slot, series in enumerate(self._series):
            families.setdefault(series.metric, []).append(slot)
        plan: list[tuple[str, list[_Row]]] = []
        for metric in sorted(families):
            first = self._series[families[metric][0]]
            exposed, kind = metric, first.kind
            if metric == STARTED:
                kind = "untyped"  # OpenFaaS's name, without `_total`
            elif kind == "counter":
                exposed = metric + "_total"
            header = f"# HELP {exposed} {first.help}\n# TYPE {exposed} {kind}\n"
            if kind != "histogram":
                rows = [
                    _Row(self._series[slot].function_name,
                         _sample_prefix(exposed, self._series[slot].labels), slot)
                    for slot in families[metric]
                ]  # fmt: skip
                plan.append((header, rows))
                continue
            histograms: dict[str, _Row] = {}
            for slot in families[metric]:
                series = self._series[slot]
                labels = series.labels
                row = histograms.get(labels)
                if row is None:
                    row = histograms[labels] = _Row(
                        series.function_name, f"{metric}_sum{{{labels}}} ", -1
                    )
                    row.count_prefix = f"{metric}_count{{{labels}}} "
                if series.le is None:
                    row.sum_slot = slot
                else:
                    row.buckets.append((slot, f'{metric}_bucket{{{labels},le="{series.le[1]}"}} '))
            for row in histograms.values():
                bounds = {prefix: self._series[slot].le for slot, prefix in row.buckets}
                row.buckets.sort(key=lambda bucket: bounds[bucket[1]] or (0.0, ""))
            plan.append((header, [row for row in histograms.values() if row.sum_slot >= 0]))
        self._plan = plan
        self._planned = len(self._series)


def _parse_key(kind: str, key: bytes) -> _Series:
    metric, sample, labels, help_text = json.loads(key)
    le = labels.pop("le", None)
    bound = (float(le), le) if le is not None else None
    return _Series(
        metric,
        kind,
        sample,
        help_text,
        labels.get("function_name", ""),
        _render_labels(labels),
        bound,
    )


def _sample_prefix(metric: str, labels: str) -> str:
    return f"{metric}{{{labels}}} " if labels else f"{metric} "


def _render_labels(labels: dict[str, str]) -> str:
    return ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isfinite(value):
        return repr(float(value))
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
