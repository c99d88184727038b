"""Every query of grafana/faas-dashboard.json returns data from the stack's real
Prometheus after some calls (with the `function` variable at "All")."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Platform, wait_for
from tests.grafana.dashboard import expressions, load, variable_metrics


def test_every_dashboard_query_returns_data(platform: Platform, client: httpx.Client) -> None:
    dashboard = load()
    queries = expressions(dashboard) + [
        f"count by (function_name) ({metric})" for metric in variable_metrics(dashboard)
    ]
    empty: list[str] = list(queries)

    def all_answer() -> bool:
        # Calls keep coming while we wait: the rates look at the last minute.
        for _ in range(3):
            assert client.post("/function/wordcount", content=b"a b c").status_code == 200
        for query in list(empty):
            if platform.prometheus(query):
                empty.remove(query)
        return not empty

    try:
        wait_for(all_answer, "every dashboard query to return data", timeout=120)
    except AssertionError as error:
        raise AssertionError(f"{error}; still empty: {empty}") from None
