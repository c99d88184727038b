"""Readable tables and JSON for the CLI's answers."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def print_json(value: Any, out: TextIO) -> None:
    """Indented JSON, keys in the gateway's order."""
    out.write(json.dumps(value, indent=2) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Left-aligned columns separated by two spaces (numbers right-aligned)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out.write(line(headers) + "\n")
    for row in cells:
        out.write(line(row) + "\n")


def print_functions(functions: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """`faas list`."""
    rows = [
        (
            function["name"]
            + "".join(
                f" {v.get('version')}={v.get('weight', 0)}%" for v in function.get("versions", [])
            ),
            function.get("image", ""),
            function.get("availableReplicas", 0),
            function.get("replicas", 0),
            function.get("invocationCount", 0),
        )
        for function in functions
    ]
    print_table(("NAME", "IMAGE", "READY", "REPLICAS", "INVOCATIONS"), rows, out)


def print_function(function: Mapping[str, Any], out: TextIO, gateway: str = "") -> None:
    """`faas describe`: one field per line; its URLs on `gateway` (the address used)."""
    fields: list[tuple[str, object]] = [
        ("Name", function.get("name", "")),
        ("Image", function.get("image", "")),
        ("Namespace", function.get("namespace") or "-"),
        ("Process", function.get("envProcess") or "-"),
        ("Mode", _mode(function.get("labels"))),
        ("Replicas", function.get("replicas", 0)),
        ("Available", function.get("availableReplicas", 0)),
        ("Invocations", function.get("invocationCount", 0)),
        ("Labels", _pairs(function.get("labels"))),
        ("Annotations", _pairs(function.get("annotations"))),
    ]
    jobs = function.get("jobs")
    if isinstance(jobs, Mapping):  # a job function's (docs/jobs.md)
        queued = jobs.get("queued")
        fields.append(("Jobs", f"running: {jobs.get('running', 0)}, "
                               f"queued: {'unknown' if queued is None else queued}"))  # fmt: skip
    urls = function.get("urls")
    if isinstance(urls, Mapping):
        fields.append(("URL", f"{gateway}{urls.get('path', '')}"))
        fields.append(("Hosts", ", ".join(urls.get("hosts") or ()) or "-"))
        fields.append(("Domains", ", ".join(urls.get("domains") or ()) or "-"))
    canary = function.get("canary")
    if isinstance(canary, Mapping):
        request = canary.get("request", {})
        fields.append(("Canary", f"{canary.get('status', '')} to {request.get('to', '')} "
                                 f"at {canary.get('weight', 0)}% (step {request.get('step', '')}"
                                 f" every {request.get('every', '')}s, max error rate "
                                 f"{request.get('maxErrorRate', '')})"))  # fmt: skip
    triggers = function.get("triggers")
    if isinstance(triggers, list):
        fields.append(("Triggers", "; ".join(_trigger(t) for t in triggers) or "-"))
    width = max(len(label) for label, _ in fields) + 1
    for label, value in fields:
        out.write(f"{label + ':':<{width}} {value}\n")
    versions = function.get("versions")
    if isinstance(versions, list) and versions:
        out.write("\n")
        rows = [
            (v.get("version", ""), f"{v.get('weight', 0)}%", v.get("name", ""), v.get("image", ""),
             v.get("availableReplicas", 0), v.get("replicas", 0), v.get("health", ""),
             v.get("invocationCount", 0))
            for v in versions
        ]  # fmt: skip
        print_table(("VERSION", "WEIGHT", "SERVICE", "IMAGE", "READY", "REPLICAS", "HEALTH",
                     "INVOCATIONS"), rows, out)  # fmt: skip
    if isinstance(canary, Mapping) and canary.get("steps"):
        out.write("\n")
        steps: list[tuple[object, ...]] = [
            (time.strftime("%H:%M:%S", time.localtime(step.get("at", 0))), step.get("result", ""),
             f"{step.get('weight', 0)}%", step.get("calls", 0), step.get("errors", 0),
             "-" if step.get("p99") is None else f"{step['p99']:g}s", step.get("reason", ""))
            for step in canary["steps"]
        ]  # fmt: skip
        print_table(("TIME", "STEP", "WEIGHT", "CALLS", "ERRORS", "P99", "REASON"), steps, out)


def _pairs(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return "-"
    return ", ".join(f"{key}={item}" for key, item in sorted(value.items()))


def _trigger(trigger: Mapping[str, Any]) -> str:
    """One trigger in a line: its name, what fires it, and a schedule's next run."""
    if trigger.get("kind") == "schedule":
        runs = trigger.get("nextRuns") or ["never"]
        what = f"schedule {trigger.get('schedule')} {trigger.get('timezone')} next {runs[0]}"
    else:
        what = "topics " + ",".join(trigger.get("topics") or ())
    return f"{trigger.get('name')}: {what} ({trigger.get('mode')})"


def print_triggers(triggers: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """`faas trigger list`: one row per trigger."""
    rows = [
        (
            t.get("function", ""),
            t.get("name", ""),
            t.get("schedule") or ",".join(t.get("topics") or ()),
            t.get("mode", ""),
            (t.get("nextRuns") or ["-"])[0],
        )
        for t in triggers
    ]
    print_table(("FUNCTION", "TRIGGER", "SCHEDULE/TOPICS", "MODE", "NEXT RUN"), rows, out)


def _mode(labels: object) -> str:
    """`job` for a job function (`com.faas.mode=job`, docs/jobs.md), else `replica`."""
    if isinstance(labels, Mapping) and str(labels.get("com.faas.mode", "")).strip() == "job":
        return "job"
    return "replica"
