"""`SharedView`: every process's series, read from prometheus-client's multiprocess files.

Each process writes its values to its own files in the shared folder; the exposition
any process serves is the sum over all of them. A dead worker's counts stay, its calls in
flight do not (the supervisor's `mark_process_dead` removes its live gauges).
"""

from __future__ import annotations

import json
import math
import operator
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.metrics.series import (
    INFLIGHT,
    SECONDS,
    SERVICE_COUNT,
    SERVICE_COUNT_HELP,
    STARTED,
    VERSION,
    FunctionList,
    Outcomes,
    join_metric_name,
    outcomes_by_function,
    split_metric_name,
)

_INT = struct.Struct("i").unpack_from


@dataclass(frozen=True)
class _Series:
    """One key of prometheus-client's metric files, parsed once and kept."""

    metric: str
    kind: str  # counter, gauge or histogram (from the file's name)
    mostrecent: bool  # a gauge whose latest value counts (from the file's name)
    sample: str
    help: str
    metric_name: str  # the function's (`hello@v2` for a version: see `split_metric_name`)
    code: str  # the status code label, "" for series without one
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

    metric_name: str
    prefix: str
    slot: int
    buckets: list[tuple[int, str]] = field(default_factory=list)
    count_prefix: str = ""
    sum_slot: int = -1


class SharedView:
    """The series of every process, summed from prometheus-client's files in `path`.

    Read and rendered here rather than by prometheus-client's `MultiProcessCollector`,
    which took several times the target for a scrape of 200 functions (docs/benchmarks.md):
    each file is parsed once (entries are only appended), each series gets a slot, and a
    scrape adds up the values slot by slot and writes the text from lines prepared once.

    `known`: the functions the provider knows, by `metric_name` (set by `forget_removed`).
    The series of any other function are left out once no call to it is in flight, and
    the function is forgotten: the files keep its values, so their totals then become its
    baseline, and if it is deployed again its series reappear as they are written again,
    counted from that baseline (as a fresh in-memory registry would count them). Each
    process's view takes the baselines of the scrapes it serves.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.known: frozenset[str] | None = None
        self._slots: dict[tuple[str, bytes], int] = {}
        self._series: list[_Series] = []
        self._function_slots: dict[str, list[int]] = {}
        self._started_slot: dict[str, int] = {}
        # Forgotten functions: per slot, its total (its time stamp, for `mostrecent`) then.
        self._baselines: dict[str, dict[int, float]] = {}
        self._files: dict[str, _FileIndex] = {}
        self._plan: list[tuple[str, list[_Row]]] = []
        self._planned = -1  # series count the plan was made for
        self._lock = threading.Lock()  # scrapes run on worker threads

    def load(self) -> dict[str, tuple[int, int]]:
        """(calls started, calls in flight) per function, over every process."""
        with self._lock:
            totals, _ = self._read(("counter_", "gauge_livesum_"))
            load: dict[str, tuple[int, int]] = {}
            for name, slot in self._started_slot.items():
                started = totals[slot] - self._baselines.get(name, {}).get(slot, 0.0)
                if name not in self._baselines or started > 0:
                    load[name] = (int(started), 0)
            for slot, series in enumerate(self._series):
                if series.metric == INFLIGHT and series.metric_name in load:
                    started, _ = load[series.metric_name]
                    load[series.metric_name] = (started, int(totals[slot]))
            return load

    def outcomes(self) -> dict[str, Outcomes]:
        """Finished calls per function over every process (the durations' buckets), from
        the baselines of functions forgotten (see the class)."""
        with self._lock:
            totals, _ = self._read(("histogram_",))
            samples = []
            for slot, series in enumerate(self._series):
                if series.metric != SECONDS or series.le is None:
                    continue
                base = self._baselines.get(series.metric_name, {}).get(slot, 0.0)
                value = totals[slot] - base
                samples.append((series.metric_name, series.code, series.le[0], value))
            return outcomes_by_function(samples)

    def exposition(self, provider: FunctionList) -> bytes:
        """The Prometheus text format of every process's series, and the provider's replicas."""
        with self._lock:
            totals, stamps = self._read(("counter_", "gauge_", "histogram_"))
            if self._planned != len(self._series):
                self._make_plan()
            self._forget_removed(totals, stamps)
            baselines = self._baselines
            out: list[str] = []
            for header, rows in self._plan:
                out.append(header)
                for row in rows:
                    base = baselines.get(row.metric_name)
                    if base is not None:
                        self._render_forgotten(row, base, totals, stamps, out)
                    elif row.sum_slot < 0:
                        out.append(f"{row.prefix}{_number(totals[row.slot])}\n")
                    else:
                        total = 0.0
                        for slot, prefix in row.buckets:
                            total += totals[slot]
                            out.append(f"{prefix}{_number(total)}\n")
                        out.append(f"{row.count_prefix}{_number(total)}\n")
                        out.append(f"{row.prefix}{_number(totals[row.sum_slot])}\n")
        out.append(f"# HELP {SERVICE_COUNT} {SERVICE_COUNT_HELP}\n# TYPE {SERVICE_COUNT} gauge\n")
        for function in provider.functions():
            name, version = split_metric_name(function.metric_name)
            labels = _render_labels({"function_name": name, VERSION: version})
            out.append(f"{SERVICE_COUNT}{{{labels}}} {_number(function.replicas)}\n")
        return "".join(out).encode()

    def _forget_removed(self, totals: list[float], stamps: dict[int, float]) -> None:
        """Take the baselines of the functions neither known nor busy, now."""
        known = self.known
        if known is None:
            return
        busy = {
            series.metric_name
            for slot, series in enumerate(self._series)
            if series.metric == INFLIGHT and totals[slot] > 0
        }
        for name, slots in self._function_slots.items():
            # "": a series of the gateway itself (no function_name label), always kept.
            if not name or name in known or name in busy:
                continue
            self._baselines[name] = {
                slot: stamps.get(slot, 0.0) if self._series[slot].mostrecent else totals[slot]
                for slot in slots
            }

    def _render_forgotten(
        self,
        row: _Row,
        base: dict[int, float],
        totals: list[float],
        stamps: dict[int, float],
        out: list[str],
    ) -> None:
        """A row of a function once forgotten: shown once written again, from the baseline
        (slots first written since have none)."""
        series = self._series[row.slot if row.sum_slot < 0 else row.sum_slot]
        if row.sum_slot >= 0:
            counts = [totals[slot] - base.get(slot, 0.0) for slot, _ in row.buckets]
            if sum(counts) <= 0:
                return
            total = 0.0
            for count, (_, prefix) in zip(counts, row.buckets, strict=True):
                total += count
                out.append(f"{prefix}{_number(total)}\n")
            out.append(f"{row.count_prefix}{_number(total)}\n")
            value = totals[row.sum_slot] - base.get(row.sum_slot, 0.0)
            out.append(f"{row.prefix}{_number(value)}\n")
            return
        value = totals[row.slot]
        if row.slot not in base:
            pass
        elif series.mostrecent:
            if stamps.get(row.slot, 0.0) <= base[row.slot]:
                return
        elif series.kind == "gauge":  # calls in flight: shown once a call started again
            started = self._started_slot.get(row.metric_name)
            if started is None or totals[started] <= base.get(started, 0.0):
                return
        else:
            value -= base[row.slot]
            if value <= 0:
                return
        out.append(f"{row.prefix}{_number(value)}\n")

    def _read(self, prefixes: tuple[str, ...]) -> tuple[list[float], dict[int, float]]:
        """The value of every slot, summed over the files (the latest, for `mostrecent`),
        and the time stamps of the `mostrecent` ones."""
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
        return totals, stamps

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
                series = _parse_key(kind, index.mostrecent, key)
                self._series.append(series)
                self._function_slots.setdefault(series.metric_name, []).append(slot)
                if series.metric == STARTED:
                    self._started_slot[series.metric_name] = slot
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
                    _Row(self._series[slot].metric_name,
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
                        series.metric_name, f"{metric}_sum{{{labels}}} ", -1
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


def _parse_key(kind: str, mostrecent: bool, key: bytes) -> _Series:
    metric, sample, labels, help_text = json.loads(key)
    le = labels.pop("le", None)
    bound = (float(le), le) if le is not None else None
    return _Series(
        metric,
        kind,
        mostrecent,
        sample,
        help_text,
        join_metric_name(labels.get("function_name", ""), labels.get(VERSION, "")),
        labels.get("code", ""),
        _render_labels(labels),
        bound,
    )


def _sample_prefix(metric: str, labels: str) -> str:
    return f"{metric}{{{labels}}} " if labels else f"{metric} "


def _render_labels(labels: dict[str, str]) -> str:
    """The labels as text; an empty `version` is left out (see `VERSION`)."""
    return ",".join(
        f'{name}="{_escape(str(value))}"'
        for name, value in labels.items()
        if value != "" or name != VERSION
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isfinite(value):
        return repr(float(value))
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
