"""Several workers' metrics as one view: `SharedView` over prometheus-client's files.

Each "worker" is a real process writing through `GatewayMetrics` in multiprocess mode
(prometheus-client picks its storage at import, from the environment); the test reads
their files the way any worker's `/metrics` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import GatewayMetrics, SharedView
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.harness import REPO

WORKER = """
import json, sys
from gateway.metrics import GatewayMetrics
class Provider:
    def functions(self): return []
metrics = GatewayMetrics(Provider(), sys.argv[1])
for name, code, calls, open_calls in json.loads(sys.argv[2]):
    for _ in range(calls):
        metrics.invocation_started(name)
        metrics.invocation_finished(name, code, 0.01)
    for _ in range(open_calls):
        metrics.invocation_started(name)
metrics.scale_event("a", "up", int(sys.argv[3]))
"""

WEIGHTED = {"com.faas.traffic": "v1=90,v2=10"}  # on hello, the function's own service
VERSION_V2 = {"com.faas.function.name": "hello", "com.faas.function.version": "v2"}


def run_worker(folder: Path, calls: list[tuple[str, int, int, int]], replicas: int) -> None:
    """One worker process: `calls` as (function, code, finished calls, calls left open)."""
    subprocess.run(
        [sys.executable, "-c", WORKER, str(folder), json.dumps(calls), str(replicas)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        cwd=REPO,
        check=True,
        timeout=60,
    )


class Provider:
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def functions(self) -> list[Function]:
        return [Function(name, "image", 1, "127.0.0.1", 8080) for name in self.names]


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_the_view_sums_every_worker_and_drops_removed_functions(tmp_path: Path) -> None:
    run_worker(tmp_path, [("a", 200, 3, 0), ("b", 200, 1, 0), ("c", 500, 2, 1)], replicas=2)
    run_worker(tmp_path, [("a", 200, 4, 1), ("a", 502, 1, 0)], replicas=3)
    view = SharedView(str(tmp_path))
    found = samples(view.exposition(Provider(["a", "b", "c"])))

    def value(name: str, **labels: str) -> float:
        return found[(name, frozenset(labels.items()))]

    assert value("gateway_function_invocation_total", function_name="a", code="200") == 7
    assert value("gateway_function_invocation_total", function_name="a", code="502") == 1
    assert value("gateway_function_invocation_started", function_name="a") == 9
    assert value("gateway_function_invocation_inflight", function_name="a") == 1
    assert value("gateway_functions_seconds_count", function_name="a", code="200") == 7
    assert value("gateway_functions_seconds_bucket", function_name="a", code="200", le="+Inf") == 7
    assert value("gateway_scale_events_total", function_name="a", direction="up") == 2
    assert value("gateway_scale_target_replicas", function_name="a") == 3  # the latest
    assert value("gateway_service_count", function_name="b") == 1
    assert view.load() == {"a": (9, 1), "b": (1, 0), "c": (3, 1)}

    # b and c are removed: b's series go; c keeps its own while a call is in flight.
    view.known = frozenset({"a"})
    names = {
        dict(labels).get("function_name")
        for (_, labels) in samples(view.exposition(Provider(["a"])))
    }
    assert names == {"a", "c"}


def test_metrics_in_one_process_are_unchanged_without_a_folder() -> None:
    metrics = GatewayMetrics(Provider(["a"]))
    assert metrics.shared is None
    metrics.invocation_started("a")
    metrics.invocation_finished("a", 200, 0.01)
    assert metrics.invocation_counts() == {"a": 1}


def test_a_function_deployed_again_is_counted_afresh(tmp_path: Path) -> None:
    run_worker(tmp_path, [("a", 200, 3, 0), ("a", 502, 1, 0), ("b", 200, 1, 0)], replicas=2)
    view = SharedView(str(tmp_path))
    view.known = frozenset({"a", "b"})
    assert samples(view.exposition(Provider(["a", "b"])))
    view.known = frozenset({"b"})  # a is removed: forgotten at this scrape
    assert b'function_name="a"' not in view.exposition(Provider(["b"]))
    assert view.load() == {"b": (1, 0)}

    a = frozenset({("function_name", "a")})
    # Deployed again: only what is written from now on shows, counted from zero.
    view.known = frozenset({"a", "b"})
    shown = samples(view.exposition(Provider(["a", "b"])))
    assert [key for key in shown if key[0] != "gateway_service_count" and a <= key[1]] == []
    run_worker(tmp_path, [("a", 200, 1, 0)], replicas=1)
    found = samples(view.exposition(Provider(["a", "b"])))
    assert found[("gateway_function_invocation_total", a | {("code", "200")})] == 1
    assert ("gateway_function_invocation_total", a | {("code", "502")}) not in found
    assert found[("gateway_function_invocation_started", a)] == 1
    assert found[("gateway_function_invocation_inflight", a)] == 0
    assert found[("gateway_functions_seconds_count", a | {("code", "200")})] == 1
    assert found[("gateway_functions_seconds_bucket", a | {("code", "200"), ("le", "+Inf")})] == 1
    assert found[("gateway_scale_events_total", a | {("direction", "up")})] == 1
    assert found[("gateway_scale_target_replicas", a)] == 1
    assert view.load() == {"a": (1, 0), "b": (1, 0)}


def test_outcomes_sum_every_worker_by_function(tmp_path: Path) -> None:
    run_worker(tmp_path, [("a", 200, 3, 0), ("c", 500, 2, 1)], replicas=2)
    run_worker(tmp_path, [("a", 200, 4, 1), ("a", 502, 1, 0)], replicas=3)
    outcomes = SharedView(str(tmp_path)).outcomes()
    assert (outcomes["a"].calls, outcomes["a"].errors) == (8, 1)
    assert (outcomes["c"].calls, outcomes["c"].errors) == (2, 2)
    # Every call took 0.01 s: all in the bucket up to 0.01.
    assert dict(outcomes["a"].buckets)[0.01] == 8
    assert outcomes["a"].buckets[-1][0] == float("inf")


def test_a_version_is_a_label_over_every_worker(tmp_path: Path) -> None:
    run_worker(tmp_path, [("hello@v1", 200, 3, 0), ("hello@v2", 500, 1, 1)], replicas=1)
    run_worker(tmp_path, [("hello@v2", 200, 2, 0), ("a", 200, 1, 0)], replicas=1)
    view = SharedView(str(tmp_path))
    provider = StaticProvider(
        [
            Function("hello", "img:1", 2, "127.0.0.1", 9, labels=WEIGHTED),
            Function("hello-v2", "img:2", 1, "127.0.0.1", 9,
                     labels=VERSION_V2),
            Function("a", "img", 1, "127.0.0.1", 9),
        ]
    )  # fmt: skip
    found = samples(view.exposition(provider))

    def value(name: str, **labels: str) -> float:
        return found[(name, frozenset(labels.items()))]

    v2 = {"function_name": "hello", "version": "v2"}
    assert value("gateway_function_invocation_total", **v2, code="200") == 2
    assert value("gateway_function_invocation_total", **v2, code="500") == 1
    assert value("gateway_functions_seconds_count", **v2, code="200") == 2
    assert value("gateway_function_invocation_started", **v2) == 4
    assert value("gateway_function_invocation_inflight", **v2) == 1
    assert value("gateway_function_invocation_total", function_name="hello", version="v1",
                 code="200") == 3  # fmt: skip
    assert value("gateway_service_count", function_name="hello", version="v1") == 2
    assert value("gateway_service_count", **v2) == 1
    assert value("gateway_function_invocation_total", function_name="a", code="200") == 1
    assert value("gateway_service_count", function_name="a") == 1
    # The load, the outcomes and forgetting keep a version's one key.
    assert view.load() == {"hello@v1": (3, 0), "hello@v2": (4, 1), "a": (1, 0)}
    assert view.outcomes()["hello@v2"].errors == 1
    view.known = frozenset({"a", "hello@v2"})
    names = {
        (dict(labels).get("function_name"), dict(labels).get("version"))
        for (name, labels) in samples(view.exposition(StaticProvider()))
    }
    assert names == {("a", None), ("hello", "v2")}


def test_a_removed_function_loses_its_canary_series_over_every_worker(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom gateway.metrics import GatewayMetrics\n"
        "class Provider:\n    def functions(self): return []\n"
        "GatewayMetrics(Provider(), sys.argv[1]).canary_step('hello', 'v2', 10, 'step')\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        cwd=REPO, check=True, timeout=60,
    )  # fmt: skip
    view = SharedView(str(tmp_path))
    view.known = frozenset({"hello", "hello@v1", "hello@v2"})
    found = samples(view.exposition(StaticProvider()))
    v2 = frozenset({("function_name", "hello"), ("version", "v2")})
    assert found[("gateway_canary_weight", v2)] == 10
    view.known = frozenset({"hello", "hello@v1"})  # v2 removed: its weight goes
    found = samples(view.exposition(StaticProvider()))
    assert ("gateway_canary_weight", v2) not in found
    assert found[("gateway_canary_steps_total", frozenset({("function_name", "hello"),
                                                          ("result", "step")}))] == 1  # fmt: skip
    view.known = frozenset()  # hello removed
    assert b'function_name="hello"' not in view.exposition(StaticProvider())
