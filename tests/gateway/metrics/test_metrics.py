"""/metrics: OpenFaaS-compatible series, counted per function, valid exposition."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import GatewayMetrics
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import require_tool

WEIGHTED = {"com.faas.traffic": "v1=90,v2=10"}  # on hello, the function's own service
VERSION_V2 = {"com.faas.function.name": "hello", "com.faas.function.version": "v2"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample in an exposition, keyed by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metered(cat_watchdog: BackgroundProcess) -> Iterator[httpx.Client]:
    """A fresh gateway (fresh registry) over `cat` (3 replicas), `func_cat` and `zero`."""
    port = cat_watchdog.port
    provider = StaticProvider(
        [
            Function("cat", "cat", 3, "127.0.0.1", port),
            Function("func_short", "cat", 1, "127.0.0.1", port, stack="func"),
            Function("zero", "cat", 0, "127.0.0.1", port),
        ]
    )
    with GatewayThread(provider) as gateway, gateway.client() as client:
        yield client


def test_invocations_are_counted(metered: httpx.Client) -> None:
    for _ in range(3):
        assert metered.post("/function/cat", content=b"x").status_code == 200
    assert metered.get("/function/zero").status_code == 503
    text = metered.get("/metrics").text
    assert value(text, "gateway_function_invocation_total", function_name="cat", code="200") == 3
    assert value(text, "gateway_function_invocation_total", function_name="zero", code="503") == 1
    assert value(text, "gateway_function_invocation_started", function_name="cat") == 3
    assert value(text, "gateway_functions_seconds_count", function_name="cat", code="200") == 3
    assert value(text, "gateway_function_invocation_inflight", function_name="cat") == 0


def test_service_count_comes_from_the_provider(metered: httpx.Client) -> None:
    text = metered.get("/metrics").text
    assert value(text, "gateway_service_count", function_name="cat") == 3
    assert value(text, "gateway_service_count", function_name="zero") == 0


def test_short_names_are_counted_under_the_full_name(metered: httpx.Client) -> None:
    metered.get("/function/short")
    text = metered.get("/metrics").text
    assert value(text, "gateway_function_invocation_total", function_name="func_short", code="200")
    assert 'function_name="short"' not in text


def test_unknown_functions_get_no_series(metered: httpx.Client) -> None:
    assert metered.get("/function/made-up").status_code == 404
    assert "made-up" not in metered.get("/metrics").text


def test_registries_are_per_app() -> None:
    provider = StaticProvider()
    first, second = GatewayMetrics(provider), GatewayMetrics(provider)
    first.invocation_started("a")
    first.invocation_finished("a", 200, 0.1)
    assert b'function_name="a"' in first.exposition()
    assert b'function_name="a"' not in second.exposition()


def test_removed_functions_lose_their_series(cat_watchdog: BackgroundProcess) -> None:
    provider = StaticProvider(
        [Function(name, "cat", 1, "127.0.0.1", cat_watchdog.port) for name in ("cat", "gone")]
    )
    with GatewayThread(provider) as gateway, gateway.client() as client:
        for name in ("cat", "gone"):
            assert client.post(f"/function/{name}", content=b"x").status_code == 200
        assert 'function_name="gone"' in client.get("/metrics").text
        provider.registry.remove("gone")
        text = client.get("/metrics").text
        assert 'function_name="gone"' not in text
        assert value(text, "gateway_function_invocation_total", function_name="cat", code="200")
        # Deployed again under the same name: counting starts afresh.
        provider.registry.upsert(Function("gone", "cat", 1, "127.0.0.1", cat_watchdog.port))
        assert client.post("/function/gone", content=b"x").status_code == 200
        total = value(
            client.get("/metrics").text, "gateway_function_invocation_total",
            function_name="gone", code="200",
        )  # fmt: skip
        assert total == 1


def test_forgetting_spares_calls_in_flight_and_covers_scaling_series() -> None:
    metrics = GatewayMetrics(StaticProvider())
    metrics.invocation_started("busy")
    metrics.invocation_started("done")
    metrics.invocation_finished("done", 200, 0.1)
    metrics.scale_event("scaled", "up", 2)
    metrics.cold_start("scaled", 3.0)
    assert sorted(metrics.forget_removed(known=())) == ["done", "scaled"]
    text = metrics.exposition().decode()
    assert 'function_name="done"' not in text
    assert 'function_name="scaled"' not in text
    assert 'function_name="busy"' in text
    metrics.invocation_finished("busy", 200, 0.1)  # the call in flight ends normally
    assert metrics.forget_removed(known=()) == ["busy"]
    assert "function_name" not in metrics.exposition().decode()


def test_exposition_passes_promtool(metered: httpx.Client) -> None:
    promtool = require_tool("promtool", "scripts/promtool.sh")
    metered.post("/function/cat", content=b"x")
    metered.get("/function/zero")
    response = metered.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=response.content,
        capture_output=True,
        timeout=60,
        check=False,
    )
    # Exit 1 is a format error; 3 means lint findings only. The one finding allowed is
    # the name OpenFaaS dashboards query, which promtool's naming lint dislikes.
    problems = [line for line in result.stderr.decode().splitlines() if line.strip()]
    allowed = (
        "gateway_service_count non-histogram and non-summary metrics "
        'should not have "_count" suffix'
    )
    assert result.returncode in (0, 3), problems
    assert [line for line in problems if line != allowed] == []


def _versioned_provider() -> StaticProvider:
    """`hello` with two versions (v1, its own service, and v2) and `plain` with one."""
    return StaticProvider(
        [
            Function("hello", "img:1", 2, "127.0.0.1", 9, labels=WEIGHTED),
            Function("hello-v2", "img:2", 1, "127.0.0.1", 9,
                     labels=VERSION_V2),
            Function("plain", "img", 1, "127.0.0.1", 9),
        ]
    )  # fmt: skip


def test_a_version_is_a_label_and_sums_by_function_still_work() -> None:
    provider = _versioned_provider()
    metrics = GatewayMetrics(provider)
    for name, code in (("hello@v1", 200), ("hello@v1", 200), ("hello@v2", 500), ("plain", 200)):
        metrics.invocation_started(name)
        metrics.invocation_finished(name, code, 0.01)
    metrics.invocation_started("hello@v2")  # in flight
    metrics.scale_event("hello@v2", "up", 3)
    metrics.cold_start("hello@v2", 2.0)
    found = samples(metrics.exposition().decode())

    def get(name: str, **labels: str) -> float:
        return found[(name, frozenset(labels.items()))]

    hello_v1 = {"function_name": "hello", "version": "v1"}
    hello_v2 = {"function_name": "hello", "version": "v2"}
    assert get("gateway_function_invocation_total", **hello_v1, code="200") == 2
    assert get("gateway_function_invocation_total", **hello_v2, code="500") == 1
    assert get("gateway_functions_seconds_count", **hello_v2, code="500") == 1
    assert get("gateway_function_invocation_started", **hello_v2) == 2
    assert get("gateway_function_invocation_inflight", **hello_v2) == 1
    assert get("gateway_service_count", **hello_v1) == 2
    assert get("gateway_service_count", **hello_v2) == 1
    assert get("gateway_scale_events_total", **hello_v2, direction="up") == 1
    assert get("gateway_scale_target_replicas", **hello_v2) == 3
    assert get("gateway_cold_start_seconds_count", **hello_v2) == 1
    # A function with one version has no version label (an empty one, to Prometheus).
    assert get("gateway_function_invocation_total", function_name="plain", code="200") == 1
    assert get("gateway_service_count", function_name="plain") == 1
    assert not any("@" in value for _, labels in found for _, value in labels)
    by_function: dict[str, float] = {}
    for (name, labels), count in found.items():
        if name == "gateway_function_invocation_total":
            function_name = dict(labels)["function_name"]
            by_function[function_name] = by_function.get(function_name, 0) + count
    assert by_function == {"hello": 3, "plain": 1}
    # Inside the gateway (load, stats, canary) a version's calls keep their one key.
    assert {name: o.calls for name, o in metrics.outcomes().items()} == {
        "hello@v1": 2, "hello@v2": 1, "plain": 1,
    }  # fmt: skip
    metrics.invocation_finished("hello@v2", 200, 0.01)
    assert sorted(metrics.forget_removed(known={"plain"})) == ["hello@v1", "hello@v2"]
    lines = metrics.exposition().decode().splitlines()
    assert [line for line in lines if "version=" in line and "service_count" not in line] == []


def test_a_removed_function_loses_its_canary_series() -> None:
    metrics = GatewayMetrics(_versioned_provider())
    metrics.canary_step("hello", "v2", 10, "step")
    text = metrics.exposition().decode()
    assert value(text, "gateway_canary_weight", function_name="hello", version="v2") == 10
    assert value(text, "gateway_canary_steps_total", function_name="hello", result="step") == 1
    # v2 removed: its weight goes; hello's steps stay while hello exists.
    metrics.forget_removed(known={"hello@v1", "hello", "plain"})
    text = metrics.exposition().decode()
    assert 'gateway_canary_weight{function_name="hello"' not in text
    assert value(text, "gateway_canary_steps_total", function_name="hello", result="step") == 1
    metrics.forget_removed(known={"plain"})  # hello removed
    text = metrics.exposition().decode()
    assert [line for line in text.splitlines() if line.startswith("gateway_canary")] == []


def test_the_autoscalers_peers_and_failed_fetches() -> None:
    metrics = GatewayMetrics(StaticProvider())
    assert "gateway_autoscaler_peers" not in metrics.exposition().decode()
    metrics.autoscaler_peers(3)
    metrics.peer_fetch_failed()
    metrics.peer_fetch_failed()
    text = metrics.exposition().decode()
    assert value(text, "gateway_autoscaler_peers") == 3
    assert value(text, "gateway_autoscaler_peer_fetch_failures_total") == 2


def test_the_autoscaler_pass_cpu_is_exposed() -> None:
    metrics = GatewayMetrics(StaticProvider([]))
    metrics.autoscaler_pass(0.0042)
    assert b"gateway_autoscaler_pass_cpu_seconds 0.0042" in metrics.exposition()
