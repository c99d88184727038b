"""grafana/faas-dashboard.json: valid JSON for Grafana's import, every query valid PromQL
(`promtool check rules`) and reading only series the gateway exposes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.harness import GatewayThread
from tests.grafana.dashboard import expressions, load, metric_names, variable_metrics
from tests.support import require_tool


def test_the_dashboard_imports_with_a_prometheus_input() -> None:
    dashboard = load()
    [data_source] = dashboard["__inputs"]
    assert data_source["pluginId"] == "prometheus"
    assert dashboard["uid"] == "faas-functions"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert "$function" in target["expr"], panel["title"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "scripts/promtool.sh")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": expression}
                    for n, expression in enumerate(expressions(load()))
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_reads_series_the_gateway_exposes() -> None:
    provider = StaticProvider([Function("cat", "cat", 1, "127.0.0.1", 9)])
    with GatewayThread(provider) as gateway, httpx.Client(base_url=gateway.url) as client:
        text = client.get("/metrics").text
    exposed = set()
    for family in text_string_to_metric_families(text):
        # A histogram's or counter's series carry suffixes the family name does not.
        exposed |= {family.name, *(f"{family.name}{s}" for s in ("_total", "_bucket",
                    "_sum", "_count"))}  # fmt: skip
    read = {name for expression in expressions(load()) for name in metric_names(expression)}
    read |= set(variable_metrics(load()))
    assert read
    assert read <= exposed, read - exposed


def test_a_function_with_versions_counts_every_version() -> None:
    # Replicas: the same from every gateway (max), a function's versions added (sum);
    # `or 0 * max by (function_name)` only fills in zeros.
    replicas = [expression.split(" or 0 * ")[0] for expression in expressions(load())]
    assert not any("max by (function_name) (gateway_service_count" in e for e in replicas)
    assert any("max by (function_name, version) (gateway_service_count" in e for e in replicas)
    by_version = "by (function_name, version) (rate(gateway_function_invocation_total"
    assert any(by_version in expression for expression in expressions(load()))
