"""Versions end to end on loopback: a gateway over the in-memory provider, two real
watchdogs answering differently (v1 and v2), the management API setting the weights."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.labels import MANAGED_LABEL
from gateway.providers.base import Function
from gateway.versions.model import VERSION_LABEL, VERSION_OF_LABEL
from tests.gateway.harness import ADMIN, GatewayThread, management_gateway, start_watchdog
from tests.gateway.providers.memory_provider import MemoryProvider

AUTH = ADMIN


@pytest.fixture(scope="module")
def watchdogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Two replicas: `echo one` for v1, `echo two` for v2 (their ports)."""
    folder: Path = tmp_path_factory.mktemp("versions")
    with (
        start_watchdog("echo one", folder) as one,
        start_watchdog("echo two", folder) as two,
    ):
        yield {"v1": one.port, "v2": two.port}


@pytest.fixture
def provider(watchdogs: dict[str, int]) -> MemoryProvider:
    provider = MemoryProvider(
        [Function("hello", "faas/hello:1", 1, "127.0.0.1", watchdogs["v1"],
                  labels={MANAGED_LABEL: "true"})]
    )  # fmt: skip
    provider.upstreams["hello-v2"] = ("127.0.0.1", watchdogs["v2"])
    return provider


@pytest.fixture
def gateway(provider: MemoryProvider) -> Iterator[GatewayThread]:
    with management_gateway(provider) as running:
        yield running


@pytest.fixture
def http(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, auth=AUTH, timeout=30) as client:
        yield client


def answers(
    http: httpx.Client, calls: int, path: str = "/function/hello", **kw: object
) -> Counter[str]:
    seen = Counter[str]()
    for _ in range(calls):
        reply = http.post(path, content=b"", **kw)  # type: ignore[arg-type]
        assert reply.status_code == 200, reply.text
        seen[reply.text.strip()] += 1
    return seen


V2 = {"service": "hello", "image": "faas/hello:2", "version": "v2", "envVars": {"COLOUR": "blue"}}


def test_dark_launch_weights_promote_rollback(http: httpx.Client, provider: MemoryProvider) -> None:
    assert answers(http, 5) == {"one": 5}
    assert http.post("/system/functions", json=V2).status_code == 202
    service = provider.registry.lookup("hello-v2")
    assert service is not None
    assert service.labels[VERSION_OF_LABEL] == "hello"
    assert service.labels[VERSION_LABEL] == "v2"
    # Dark: only by name or header.
    assert answers(http, 20) == {"one": 20}
    assert answers(http, 3, "/function/hello@v2") == {"two": 3}
    assert answers(http, 3, headers={"X-Function-Version": "v2"}) == {"two": 3}
    assert answers(http, 2, "/function/hello@v1") == {"one": 2}
    assert http.post("/function/hello@v9").status_code == 404
    assert http.post("/function/hello", headers={"X-Function-Version": "v9"}).status_code == 404

    # Weights: an exact 90/10 split over 1,000 calls (one process, one schedule).
    reply = http.put("/system/functions/hello/traffic", json={"v1": 90, "v2": 10})
    assert reply.status_code == 202, reply.text
    assert answers(http, 1000) == {"one": 900, "two": 100}

    listed = http.get("/system/functions").json()
    assert [f["name"] for f in listed] == ["hello"]  # one function, its versions inside
    versions = {v["version"]: v for v in listed[0]["versions"]}
    assert versions["v1"]["weight"] == 90
    assert versions["v2"]["weight"] == 10
    assert versions["v2"]["name"] == "hello-v2"
    assert versions["v2"]["health"] == "ready"
    assert versions["v2"]["invocationCount"] >= 100
    assert listed[0]["invocationCount"] == sum(v["invocationCount"] for v in versions.values())

    assert http.post("/system/functions/hello/promote", json={"version": "v2"}).status_code == 202
    assert answers(http, 10) == {"two": 10}
    assert http.post("/system/functions/hello/rollback").status_code == 202
    assert answers(http, 100) == {"one": 90, "two": 10}


@pytest.mark.parametrize(
    ("body", "message"),
    [({"v1": 90, "v2": 20}, "sum to 110, not 100"),
     ({"v1": 90, "v3": 10}, "'v3' is not a version of this function (its versions: v1, v2)"),
     ({"v1": 90.5, "v2": 9.5}, "expected an integer"),
     ({"v1": 101}, "at most 100"),
     ([90, 10], "expected an object")],
)  # fmt: skip
def test_bad_weights_are_400_naming_the_problem(
    http: httpx.Client, body: object, message: str
) -> None:
    assert http.post("/system/functions", json=V2).status_code == 202
    reply = http.put("/system/functions/hello/traffic", json=body)
    assert reply.status_code == 400
    assert message in reply.json()["error"]


def test_api_errors(http: httpx.Client, provider: MemoryProvider) -> None:
    assert http.put("/system/functions/nothing/traffic", json={"v1": 100}).status_code == 404
    assert http.post("/system/functions", json=V2).status_code == 202
    again = http.post("/system/functions", json=V2)
    assert again.status_code == 409
    own = http.post("/system/functions", json={**V2, "version": "v1"})
    assert own.status_code == 409
    assert http.post("/system/functions/hello/rollback").status_code == 409  # nothing before
    assert http.delete("/system/functions/hello/canary").status_code == 409
    bad = http.post("/system/functions/hello/promote", json={"version": "v7"})
    assert bad.status_code == 400
    unversioned = http.post("/system/functions", json={**V2, "weight": 10, "version": None})
    assert unversioned.status_code == 400
    # A weighted version cannot be removed; at 0 it can.
    http.put("/system/functions/hello/traffic", json={"v1": 50, "v2": 50})
    removal = http.request("DELETE", "/system/functions", json={"functionName": "hello@v2"})
    assert removal.status_code == 409
    assert "50% of the calls" in removal.json()["error"]
    http.put("/system/functions/hello/traffic", json={"v1": 100})
    removal = http.request("DELETE", "/system/functions", json={"functionName": "hello@v2"})
    assert removal.status_code == 202, removal.text
    assert provider.registry.lookup("hello-v2") is None


def test_deploy_with_weight_and_update_keeps_the_version(
    http: httpx.Client, provider: MemoryProvider
) -> None:
    assert http.post("/system/functions", json={**V2, "weight": 10}).status_code == 202
    assert answers(http, 100) == {"one": 90, "two": 10}
    updated = http.put("/system/functions", json={**V2, "image": "faas/hello:2.1"})
    assert updated.status_code == 202
    service = provider.registry.lookup("hello-v2")
    assert service is not None
    assert service.image == "faas/hello:2.1"
    assert service.labels[VERSION_LABEL] == "v2"
    assert provider.deployments["hello-v2"].env_vars == {"COLOUR": "blue"}
    assert answers(http, 100) == {"one": 90, "two": 10}  # the weights outlive the update
    # Removing the function removes every version.
    http.request("DELETE", "/system/functions", json={"functionName": "hello"})
    assert provider.registry.all() == []


def test_sticky_header(provider: MemoryProvider, watchdogs: dict[str, int]) -> None:
    hello = provider.registry.lookup("hello")
    assert hello is not None
    provider.registry.upsert(
        dataclasses.replace(
            hello,
            labels={**hello.labels, "com.faas.traffic.sticky_header": "X-User",
                    "com.faas.traffic": "v1=50,v2=50"},
        )
    )  # fmt: skip
    provider.registry.upsert(
        Function("hello-v2", "faas/hello:2", 1, "127.0.0.1", watchdogs["v2"],
                 labels={VERSION_OF_LABEL: "hello", VERSION_LABEL: "v2"})
    )  # fmt: skip
    with GatewayThread(provider) as gateway, gateway.client() as http:
        for user in ("ann", "bob", "cyd", "dan"):
            seen = answers(http, 5, headers={"X-User": user})
            assert len(seen) == 1


def test_a_canary_is_refused_while_the_autoscaler_is_off(provider: MemoryProvider) -> None:
    # The canary is stepped by the autoscaler's pass (once in the cluster): without it a
    # canary would never move, so it is refused, naming the setting.
    with (
        management_gateway(provider, autoscale=False) as gateway,
        httpx.Client(base_url=gateway.url, auth=AUTH, timeout=30) as http,
    ):  # fmt: skip
        assert http.post("/system/functions", json=V2).status_code == 202
        reply = http.post("/system/functions/hello/canary", json={"to": "v2", "step": 10})
        assert reply.status_code == 409
        assert "GATEWAY_AUTOSCALE" in reply.json()["error"]
        # Weights set by hand still work.
        assert http.put("/system/functions/hello/traffic", json={"v1": 90, "v2": 10}).is_success
