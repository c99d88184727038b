"""A real Prometheus, deployed by the stack, scrapes the gateway's counters."""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import Platform, credentials, docker, wait_for


def test_prometheus_has_the_gateway_invocation_counters(
    platform: Platform, client: httpx.Client
) -> None:
    for _ in range(3):
        assert client.post("/function/wordcount", content=b"a b c").status_code == 200
    function_name = platform.service_name("wordcount")
    query = f'sum(gateway_function_invocation_total{{function_name="{function_name}",code="200"}})'

    def counted() -> bool:
        result = platform.prometheus(query)
        return bool(result) and float(result[0]["value"][1]) >= 3

    wait_for(counted, f"Prometheus to report {function_name} invocations", timeout=60)


def test_gateway_target_is_up(platform: Platform) -> None:
    def up() -> bool:
        return any(
            r["metric"].get("job") == "gateway" and r["value"][1] == "1"
            for r in platform.prometheus("up")
        )

    wait_for(up, "the gateway scrape target to be up", timeout=60)


def test_prometheus_is_not_published_and_the_gateway_guards_its_api(platform: Platform) -> None:
    # Published, it would answer anyone without credentials, functions included (through
    # the host's bridge): by default only the gateway reaches it, behind the credentials.
    spec = json.loads(docker("service", "inspect", platform.service_name("prometheus")))[0]
    assert not spec["Spec"].get("EndpointSpec", {}).get("Ports"), spec["Spec"]["EndpointSpec"]
    url = f"{platform.gateway_url}/system/prometheus/api/v1/query"
    assert httpx.get(url, params={"query": "up"}).status_code == 401
    assert platform.prometheus("vector(1)")[0]["value"][1] == "1"
    admin = httpx.get(f"{platform.gateway_url}/system/prometheus/api/v1/admin",
                      auth=credentials())  # fmt: skip
    assert admin.status_code == 404
