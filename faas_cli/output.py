"""Readable tables and JSON for the CLI's answers."""

from __future__ import annotations

import json
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
            function["name"],
            function.get("image", ""),
            function.get("availableReplicas", 0),
            function.get("replicas", 0),
            function.get("invocationCount", 0),
        )
        for function in functions
    ]
    print_table(("NAME", "IMAGE", "READY", "REPLICAS", "INVOCATIONS"), rows, out)


def print_function(function: Mapping[str, Any], out: TextIO) -> None:
    """`faas describe`: one field per line."""
    fields: list[tuple[str, object]] = [
        ("Name", function.get("name", "")),
        ("Image", function.get("image", "")),
        ("Namespace", function.get("namespace") or "-"),
        ("Process", function.get("envProcess") or "-"),
        ("Replicas", function.get("replicas", 0)),
        ("Available", function.get("availableReplicas", 0)),
        ("Invocations", function.get("invocationCount", 0)),
        ("Labels", _pairs(function.get("labels"))),
        ("Annotations", _pairs(function.get("annotations"))),
    ]
    width = max(len(label) for label, _ in fields) + 1
    for label, value in fields:
        out.write(f"{label + ':':<{width}} {value}\n")


def _pairs(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return "-"
    return ", ".join(f"{key}={item}" for key, item in sorted(value.items()))
