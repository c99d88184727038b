"""The Grafana dashboard's queries, read the way Grafana runs them (shared by the unit
test and the e2e test against the stack's Prometheus)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "faas-dashboard.json"
ALL_FUNCTIONS = ".*"  # the `function` variable's "All"
_METRIC = re.compile(r"\b(gateway_[a-z_]+)\b")


def load() -> dict[str, Any]:
    """The dashboard as Grafana imports it."""
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every panel query, with `$function` as "All" (what Grafana sends by default)."""
    return [
        target["expr"].replace("$function", ALL_FUNCTIONS)
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def variable_metrics(dashboard: dict[str, Any]) -> list[str]:
    """The series the template variables read (`label_values(<series>, <label>)`)."""
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])
            assert match is not None, variable["definition"]
            found.append(match.group(1))
    return found


def metric_names(expression: str) -> set[str]:
    """The gateway series an expression reads."""
    return set(_METRIC.findall(expression))
