"""A real Prometheus, deployed by the stack, scrapes the gateway's counters."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Platform, wait_for


def test_prometheus_has_the_gateway_invocation_counters(
    platform: Platform, client: httpx.Client
) -> None:
    for _ in range(3):
        assert client.post("/function/wordcount", content=b"a b c").status_code == 200
    function_name = platform.service_name("wordcount")
    query = f'sum(gateway_function_invocation_total{{function_name="{function_name}",code="200"}})'

    def counted() -> bool:
        reply = httpx.get(f"{platform.prometheus_url}/api/v1/query", params={"query": query})
        result = reply.json()["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= 3

    wait_for(counted, f"Prometheus to report {function_name} invocations", timeout=60)


def test_gateway_target_is_up(platform: Platform) -> None:
    def up() -> bool:
        reply = httpx.get(f"{platform.prometheus_url}/api/v1/query", params={"query": "up"})
        return any(
            r["metric"].get("job") == "gateway" and r["value"][1] == "1"
            for r in reply.json()["data"]["result"]
        )

    wait_for(up, "the gateway scrape target to be up", timeout=60)
