"""`GET /system/stats`: windows over the gateway's own counters, and quantile estimates."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import pytest

from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.errors import BadRequest
from gateway.management.api import create_system_app
from gateway.management.stats import (
    StatsHistory,
    StatsQuery,
    parse_stats_query,
    quantile,
)
from gateway.metrics import GatewayMetrics
from gateway.metrics.series import Outcomes
from gateway.providers.base import Function
from tests.gateway.providers.memory_provider import MemoryProvider

INF = math.inf

WEIGHTED = {"com.faas.traffic": "v1=90,v2=10"}  # on hello, the function's own service
VERSION_V2 = {"com.faas.function.name": "hello", "com.faas.function.version": "v2"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outcomes(calls: int, errors: int = 0, fast: int | None = None) -> Outcomes:
    """`calls` calls, `fast` of them (all by default) under 10 ms, the rest under 1 s."""
    fast = calls if fast is None else fast
    return Outcomes(calls, errors, ((0.01, fast), (1.0, calls - fast), (INF, 0)))


class Totals:
    """The outcome totals the history reads: set by each test step."""

    def __init__(self) -> None:
        self.now: Mapping[str, Outcomes] = {}

    def __call__(self) -> Mapping[str, Outcomes]:
        return self.now


def ask(
    made: StatsHistory, totals: Totals, reading: Mapping[str, Outcomes], window: int, *names: str
) -> Any:
    totals.now = reading
    return asyncio.run(made.stats(StatsQuery(window), list(names))).sent()


def history(clock: Clock) -> tuple[StatsHistory, Totals]:
    totals = Totals()
    return StatsHistory(totals, spacing=5.0, keep=900.0, clock=clock), totals


def stats_api(
    provider: MemoryProvider, calls: Iterable[tuple[str, int]]
) -> Callable[..., httpx.Response]:
    """`get(path, auth=("admin", "pw"))` on the system API of a gateway whose metrics saw
    `calls` (function, status), each taking 0.02 s."""
    metrics = GatewayMetrics(provider)
    for name, code in calls:
        metrics.invocation_started(name)
        metrics.invocation_finished(name, code, 0.02)
    config = GatewayConfig(basic_auth=BasicAuthCredentials("admin", "pw"))
    app = create_system_app(config, provider, metrics)

    def get(path: str, auth: tuple[str, str] | None = ("admin", "pw")) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.get(path, auth=auth)

        return asyncio.run(fetch())

    return get


def test_quantiles_interpolate_within_a_bucket() -> None:
    buckets = [(0.1, 50), (0.2, 50), (INF, 0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.99, [(0.1, 99), (INF, 1)]) == pytest.approx(0.1)
    assert quantile(0.999, [(0.1, 1), (INF, 9)]) == pytest.approx(0.1)  # the largest bound
    assert quantile(0.5, [(0.1, 0), (INF, 0)]) is None


def test_window_from_the_start_while_the_gateway_is_young() -> None:
    clock = Clock()
    made, totals = history(clock)
    clock.now += 30
    answer = ask(made, totals, {"cat": outcomes(60, 6)}, 300, "cat", "idle")
    assert answer["window"] == 30
    cat, idle = answer["functions"]
    assert cat == {
        "name": "cat",
        "invocations": 60,
        "errors": 6,
        "recent": {"invocations": 60, "errors": 6, "rate": 2.0, "p50": 0.005, "p99": 0.0099},
    }
    assert idle["recent"] == {"invocations": 0, "errors": 0, "rate": 0.0, "p50": None, "p99": None}


def test_window_counts_only_calls_since_the_reading_that_old() -> None:
    clock = Clock()
    made, totals = history(clock)
    for second, calls in ((10, 10), (20, 30), (30, 70)):
        clock.now = 1000 + second
        answer = ask(made, totals, {"cat": outcomes(calls, fast=10)}, 10, "cat")
    # At 30 s, the reading from 20 s is 10 s old: 40 calls since, all slow.
    assert answer["window"] == 10
    [cat] = answer["functions"]
    assert cat["invocations"] == 70
    assert cat["recent"]["invocations"] == 40
    assert cat["recent"]["rate"] == 4.0
    assert 0.01 < cat["recent"]["p50"] < 1.0


def test_readings_are_spaced_and_bounded() -> None:
    clock = Clock()
    made, totals = history(clock)
    for step in range(1, 400):
        clock.now = 1000 + step
        ask(made, totals, {"cat": outcomes(step)}, 10, "cat")
    readings = made._readings
    assert len(readings) <= 900 / 5 + 2
    times = [when for when, _ in readings]
    assert all(later - earlier >= 5 for earlier, later in itertools.pairwise(times[1:]))


def test_a_function_counted_again_from_zero_is_not_negative() -> None:
    clock = Clock()
    made, totals = history(clock)
    clock.now += 10
    ask(made, totals, {"cat": outcomes(50)}, 5, "cat")
    clock.now += 10
    [cat] = ask(made, totals, {"cat": outcomes(3)}, 5, "cat")["functions"]
    assert cat["recent"]["invocations"] == 3


def test_query_is_validated() -> None:
    assert parse_stats_query({}) == StatsQuery(300, None)
    assert parse_stats_query({"window": "10", "name": "cat"}) == StatsQuery(10, "cat")
    for bad in ("0", "901", "-1", "1e3", "ten", "٣"):
        with pytest.raises(BadRequest, match="window"):
            parse_stats_query({"window": bad})


def test_endpoint_reads_the_gateway_metrics() -> None:
    provider = MemoryProvider([Function("cat", "faas/cat", 1, "tasks.cat"),
                               Function("dog", "faas/dog", 1, "tasks.dog")])  # fmt: skip
    get = stats_api(provider, [("cat", 200), ("cat", 200), ("cat", 502)])
    everything = get("/stats")
    assert everything.status_code == 200
    by_name = {entry["name"]: entry for entry in everything.json()["functions"]}
    assert set(by_name) == {"cat", "dog"}
    assert (by_name["cat"]["invocations"], by_name["cat"]["errors"]) == (3, 1)
    assert by_name["cat"]["recent"]["invocations"] == 3
    assert 0.01 < by_name["cat"]["recent"]["p50"] <= 0.025
    one = get("/stats?name=dog&window=60").json()
    assert [entry["name"] for entry in one["functions"]] == ["dog"]
    assert get("/stats?window=0").json()["error"].startswith("window:")
    assert get("/stats", auth=None).status_code == 401


def test_a_function_with_versions_is_listed_once_with_each_version() -> None:
    provider = MemoryProvider(
        [
            Function("hello", "img:1", 1, "tasks.hello", labels=WEIGHTED),
            Function("hello-v2", "img:2", 1, "tasks.hello-v2",
                     labels=VERSION_V2),
            Function("cat", "faas/cat", 1, "tasks.cat"),
        ]
    )  # fmt: skip
    calls = [("hello@v1", 200), ("hello@v1", 200), ("hello@v2", 502), ("cat", 200)]
    get = stats_api(provider, calls)
    answer = get("/stats").json()
    by_name = {entry["name"]: entry for entry in answer["functions"]}
    assert set(by_name) == {"cat", "hello"}  # not the version's own service
    assert "versions" not in by_name["cat"]
    hello = by_name["hello"]
    assert (hello["invocations"], hello["errors"]) == (3, 1)
    assert (hello["recent"]["invocations"], hello["recent"]["errors"]) == (3, 1)
    v1, v2 = hello["versions"]
    assert (v1["version"], v1["invocations"], v1["errors"]) == ("v1", 2, 0)
    assert (v2["version"], v2["invocations"], v2["errors"]) == ("v2", 1, 1)
    assert v2["recent"]["invocations"] == 1
    assert 0.01 < v2["recent"]["p50"] <= 0.025
    [only] = get("/stats?name=hello").json()["functions"]
    assert only["name"] == "hello"


def test_a_namespaced_function_is_listed_by_its_key() -> None:
    provider = MemoryProvider([Function("hello", "img:1", 1, "tasks.hello"),
                               Function("dev_hello", "img:1", 1, "tasks.dev_hello",
                                        namespace="dev")])  # fmt: skip
    provider.namespaces = {"dev"}
    get = stats_api(provider, [("hello.dev", 200), ("hello.dev", 200), ("hello", 200)])
    answer = get("/stats").json()
    by_name = {entry["name"]: entry["invocations"] for entry in answer["functions"]}
    assert by_name == {"hello": 1, "hello.dev": 2}  # as clients call it, not `dev_hello`
    [only] = get("/stats?name=hello.dev").json()["functions"]
    assert (only["name"], only["invocations"]) == ("hello.dev", 2)
