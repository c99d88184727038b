"""`GatewayMetrics`: the gateway's series, named like the OpenFaaS gateway's.

Each app gets its own `CollectorRegistry` (no global state; tests build several apps).
`GatewayMetrics` is an invocation notifier for the proxy and the scaling metrics for the
`Scaler`. `function_name` is always the function's full (canonical) name, and only
functions the provider knows get series, so callers cannot grow the label set with
made-up names. The invocation series of a version of a function with several carry its
`version` too: the proxy reports a call by `Function.metric_name` (`hello@v2`), split
into `function_name="hello", version="v2"` once per series (`split_metric_name`).

With a shared folder (`shared_dir`: prometheus-client's multiprocess mode, which
`gateway.metrics.multiprocess_values` switches on), every process writes its values to
its own files there and the exposition is rendered from all of them by `SharedView`.
Without one (apps built in-process, as tests do) the registry renders itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Collection, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from gateway.metrics.batch import CallBatch, observe_all
from gateway.metrics.series import (
    COLD_START_BUCKETS,
    LEADER,
    SECONDS,
    SERVICE_COUNT,
    SERVICE_COUNT_HELP,
    STARTED,
    STARTED_HELP,
    VERSION,
    FunctionList,
    Outcomes,
    join_metric_name,
    outcomes_by_function,
    split_metric_name,
)
from gateway.metrics.shared_view import SharedView

# The `_created` series add a third of the samples and nothing the OpenFaaS dashboards
# use, and made scrapes of many functions measurably slower (docs/benchmarks.md).
disable_created_metrics()  # type: ignore[no-untyped-call]


class _ProviderCollector(Collector):
    """Series computed at scrape time: replicas from the provider, and started calls."""

    def __init__(self, provider: FunctionList, started: dict[str, int]) -> None:
        self._provider = provider
        self._started = started

    def collect(self) -> Iterator[Metric]:
        service_count = GaugeMetricFamily(
            SERVICE_COUNT, SERVICE_COUNT_HELP, labels=["function_name", VERSION]
        )
        for function in self._provider.functions():
            service_count.add_metric(split_metric_name(function.metric_name), function.replicas)
        yield service_count
        started = UnknownMetricFamily(STARTED, STARTED_HELP, labels=["function_name", VERSION])
        # A copy, taken atomically: scrapes run in a worker thread while the loop counts.
        for name, count in sorted(self._started.copy().items()):
            started.add_metric(split_metric_name(name), count)
        yield started


class _WithoutEmptyVersion(Collector):
    """A registry's series with each empty `version` label left out, as `SharedView`
    renders them: a function with one version reads exactly as before versions."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [
                _without_version(sample) if sample.labels.get(VERSION) == "" else sample
                for sample in family.samples
            ]
            yield family


def _without_version(sample: Sample) -> Sample:
    labels = {name: value for name, value in sample.labels.items() if name != VERSION}
    return sample._replace(labels=labels)


class GatewayMetrics:
    """The gateway's metrics and its registry; the proxy reports each invocation here."""

    def __init__(self, provider: FunctionList, shared_dir: str | None = None) -> None:
        if shared_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(
                "metrics on a shared folder need prometheus-client's multiprocess mode "
                "(gateway.metrics.multiprocess_values)"
            )
        self.registry = CollectorRegistry()
        self.shared = SharedView(shared_dir) if shared_dir is not None else None
        self._started: dict[str, int] = {}
        self._finished: dict[str, int] = {}
        self._invocations = Counter(
            "gateway_function_invocation",
            "Function invocations, by final status code.",
            ["function_name", "code", VERSION],
            registry=self.registry,
        )
        self._seconds = Histogram(
            SECONDS,
            "Time from routing an invocation to the end of its response, in seconds.",
            ["function_name", "code", VERSION],
            registry=self.registry,
        )
        self._inflight = Gauge(
            "gateway_function_invocation_inflight",
            "Function invocations in progress.",
            ["function_name", VERSION],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._scale_events = Counter(
            "gateway_scale_events",
            "Replica changes made by the gateway (autoscaler, scale from zero, alerts).",
            ["function_name", "direction", VERSION],
            registry=self.registry,
        )
        self._scale_target = Gauge(
            "gateway_scale_target_replicas",
            "Replicas the gateway last set for each function it scaled.",
            ["function_name", VERSION],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self._cold_start = Histogram(
            "gateway_cold_start_seconds",
            "Time from a call finding a function at 0 replicas to a replica being ready.",
            ["function_name", VERSION],
            buckets=COLD_START_BUCKETS,
            registry=self.registry,
        )
        self._leader: Gauge | None = None  # made by the autoscaler's first report
        self._pass_cpu: Gauge | None = None  # made by the first pass that decides
        self._canary: tuple[Gauge, Counter] | None = None  # made by the first canary step
        self._peers: tuple[Gauge, Counter] | None = None  # made by the autoscaler's first pass
        self.registry.register(_ProviderCollector(provider, self._started))
        if self.shared is not None:
            # Started calls go to the shared files too (the dict above is this process's).
            self._started_shared = Counter(
                STARTED, STARTED_HELP, ["function_name", VERSION], registry=None
            )
            self._started_children: dict[str, Counter] = {}
        self._provider = provider
        # Labelled children, cached: `.labels()` costs a lock and a tuple on every call.
        self._inflight_children: dict[str, Gauge] = {}
        self._outcome_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._scaled: set[str] = set()  # functions with scaling or cold-start series
        # The canary series' labels, by the name that removes them: a version's weight by
        # its metric name (`hello@v2`), the steps by the function's.
        self._canary_labels: dict[str, set[tuple[bool, str, str]]] = {}
        self._batch: CallBatch | None = None

    def batch_writes(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on, on a shared folder, write each call's series once per pass of
        `loop` (`gateway.metrics.batch`; call from the app's lifespan, on that loop).
        Without a shared folder every update is a cheap in-memory one: nothing changes."""
        if self.shared is not None and self._batch is None:
            self._batch = CallBatch(loop, self._write_calls)

    def flush(self) -> None:
        """Write the calls of this loop pass now (on the loop, e.g. before a scrape)."""
        if self._batch is not None:
            self._batch.flush()

    def stop_batching(self) -> None:
        """Write what is pending and write each update at once again (at shutdown)."""
        self.flush()
        self._batch = None

    def invocation_started(self, metric_name: str) -> None:
        """Count a call that was routed to a known function and is about to be sent
        (`metric_name`: the function's, `hello@v2` for a version)."""
        self._started[metric_name] = self._started.get(metric_name, 0) + 1
        if self._batch is not None:
            self._batch.started(metric_name)
            return
        self._write_calls({metric_name: 1}, {metric_name: 1}, {})

    def invocation_finished(self, metric_name: str, code: int, seconds: float) -> None:
        """Record how a call started with `invocation_started` ended."""
        self._finished[metric_name] = self._finished.get(metric_name, 0) + 1
        if self._batch is not None:
            self._batch.finished(metric_name, code, seconds)
            return
        self._inflight_child(metric_name).dec()
        invocations, seconds_histogram = self._outcome_child(metric_name, code)
        invocations.inc()
        seconds_histogram.observe(seconds)

    def _write_calls(
        self,
        started: dict[str, int],
        inflight: dict[str, int],
        finished: dict[tuple[str, int], list[float]],
    ) -> None:
        """Write calls started, the change of calls in flight, and finished calls'
        durations by (function, code) to the series."""
        shared = self.shared is not None
        for metric_name, count in started.items():
            if shared:
                self._started_child(metric_name).inc(count)
        for metric_name, change in inflight.items():
            if change:
                self._inflight_child(metric_name).inc(change)
        for (metric_name, code), durations in finished.items():
            invocations, seconds_histogram = self._outcome_child(metric_name, code)
            invocations.inc(len(durations))
            observe_all(seconds_histogram, durations)

    def _inflight_child(self, metric_name: str) -> Gauge:
        inflight = self._inflight_children.get(metric_name)
        if inflight is None:
            inflight = self._inflight_children[metric_name] = self._inflight.labels(
                *split_metric_name(metric_name)
            )
        return inflight

    def _started_child(self, metric_name: str) -> Counter:
        started = self._started_children.get(metric_name)
        if started is None:
            started = self._started_children[metric_name] = self._started_shared.labels(
                *split_metric_name(metric_name)
            )
        return started

    def _outcome_child(self, metric_name: str, code: int) -> tuple[Counter, Histogram]:
        outcome = self._outcome_children.get((metric_name, code))
        if outcome is None:
            name, version = split_metric_name(metric_name)
            labels = (name, str(code), version)
            outcome = self._outcome_children[(metric_name, code)] = (
                self._invocations.labels(*labels),
                self._seconds.labels(*labels),
            )
        return outcome

    def forget_removed(self, known: Collection[str]) -> list[str]:
        """Drop every series of functions not in `known` (call on the event loop).

        Without this, the series of each function ever removed would stay in every scrape
        until the gateway restarts. A function with calls still in flight keeps its series
        until a later call. Returns the names forgotten. On a shared folder the exposition
        leaves out every function not in `known` with no call in flight, and counts a
        function deployed again afresh (`SharedView`).
        """
        self.flush()
        if self.shared is not None:
            self.shared.known = frozenset(known)
        gone = [
            name
            for name in self._started.keys() | self._scaled
            if name not in known and self._started.get(name, 0) == self._finished.get(name, 0)
        ]
        for name in gone:
            function_name, version = split_metric_name(name)
            self._started.pop(name, None)
            self._finished.pop(name, None)
            if self.shared is not None and self._started_children.pop(name, None) is not None:
                self._started_shared.remove(function_name, version)
            self._scaled.discard(name)
            if self._batch is not None:
                self._batch.forget(name)
            if self._inflight_children.pop(name, None) is not None:
                self._inflight.remove(function_name, version)
            for key in [key for key in self._outcome_children if key[0] == name]:
                del self._outcome_children[key]
                self._invocations.remove(function_name, str(key[1]), version)
                self._seconds.remove(function_name, str(key[1]), version)
            if self._canary is not None:
                canary_weights, canary_steps = self._canary
                for is_weight, first, second in self._canary_labels.pop(name, ()):
                    with contextlib.suppress(KeyError):
                        (canary_weights if is_weight else canary_steps).remove(first, second)
            for metric, labels in (
                (self._scale_events, (function_name, "up", version)),
                (self._scale_events, (function_name, "down", version)),
                (self._scale_target, (function_name, version)),
                (self._cold_start, (function_name, version)),
            ):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)
        return gone

    def invocation_counts(self) -> dict[str, int]:
        """Calls started per function since the gateway started (for `/system/functions`),
        by `metric_name`."""
        if self.shared is not None:
            return {name: started for name, (started, _) in self.shared.load().items()}
        return self._started.copy()

    def outcomes(self) -> dict[str, Outcomes]:
        """Finished calls per function: counts, 5xx and durations (for `/system/stats` and
        the canary), by `metric_name`.

        Thread-safe like `exposition`; on a shared folder, every process's calls.
        """
        if self.shared is not None:
            return self.shared.outcomes()
        samples: list[tuple[str, str, float, float]] = []
        for family in self._seconds.collect():
            below: dict[tuple[str, str], float] = {}  # the cumulative count so far
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):
                    continue
                name = join_metric_name(sample.labels["function_name"], sample.labels[VERSION])
                key = (name, sample.labels["code"])
                before = below.get(key, 0.0)
                below[key] = sample.value
                samples.append((*key, float(sample.labels["le"]), sample.value - before))
        return outcomes_by_function(samples)

    def scale_event(self, metric_name: str, direction: str, replicas: int) -> None:
        """Count a replica change the gateway made (`direction`: up or down), by the
        function's `metric_name`."""
        self._scaled.add(metric_name)
        name, version = split_metric_name(metric_name)
        self._scale_events.labels(name, direction, version).inc()
        self._scale_target.labels(name, version).set(replicas)

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

    def autoscaler_pass(self, cpu_seconds: float) -> None:
        """Record the CPU time of the autoscaler's last pass, in the process that decides
        (docs/benchmarks.md, "A thousand functions")."""
        if self._pass_cpu is None:
            self._pass_cpu = Gauge(
                "gateway_autoscaler_pass_cpu_seconds",
                "CPU time of the autoscaler's last pass over every function (an upper "
                "bound: calls the process served while the pass awaited count too).",
                registry=self.registry,
                multiprocess_mode="livemostrecent",
            )
        self._pass_cpu.set(cpu_seconds)

    def autoscaler_peers(self, count: int) -> None:
        """Record the gateway containers the autoscaler heard from on its last pass (itself
        included; 0 in the processes that do not decide)."""
        if self._peers is None:
            self._peers = (
                Gauge(
                    "gateway_autoscaler_peers",
                    "Gateway containers the autoscaler heard from on its last pass, itself "
                    "included (0 where it does not decide).",
                    registry=self.registry,
                    multiprocess_mode="livesum",
                ),
                Counter(
                    "gateway_autoscaler_peer_fetch_failures",
                    "Load reports the autoscaler asked another gateway container for in vain.",
                    registry=self.registry,
                ),
            )
        self._peers[0].set(count)

    def peer_fetch_failed(self) -> None:
        """Count one load report another gateway container did not give."""
        if self._peers is None:
            self.autoscaler_peers(0)
        assert self._peers is not None
        self._peers[1].inc()

    def canary_step(self, function_name: str, version: str, weight: int, result: str) -> None:
        """Record a canary's step (docs/versions.md): the version's weight now, and the
        step's result (step, promoted, rolled_back)."""
        if self._canary is None:
            self._canary = (
                Gauge(
                    "gateway_canary_weight",
                    "The weight a canary last gave its version, in percent.",
                    ["function_name", "version"],
                    registry=self.registry,
                    multiprocess_mode="mostrecent",
                ),
                Counter(
                    "gateway_canary_steps",
                    "Canary steps, by result: step, promoted, rolled_back.",
                    ["function_name", "result"],
                    registry=self.registry,
                ),
            )
        version_key = join_metric_name(function_name, version)
        self._scaled.update((function_name, version_key))
        self._canary_labels.setdefault(version_key, set()).add((True, function_name, version))
        self._canary_labels.setdefault(function_name, set()).add((False, function_name, result))
        weights, steps = self._canary
        weights.labels(function_name, version).set(weight)
        steps.labels(function_name, result).inc()

    def cold_start(self, metric_name: str, seconds: float) -> None:
        """Record how long a function (by `metric_name`) took to get a ready replica from 0."""
        self._scaled.add(metric_name)
        self._cold_start.labels(*split_metric_name(metric_name)).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every series (thread-safe: scrapes run off the loop)."""
        if self.shared is not None:
            return self.shared.exposition(self._provider)
        return generate_latest(_WithoutEmptyVersion(self.registry))


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_values(path: str) -> None:
    """Keep every metric's values in prometheus-client's files in `path` from now on.

    prometheus-client picks its storage when it is first imported, from
    `PROMETHEUS_MULTIPROC_DIR`: spawned workers find the variable set, and this process
    (one gateway process serving alone) switches now, before its `GatewayMetrics` exist.
    """
    os.environ[MULTIPROC_ENV] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
