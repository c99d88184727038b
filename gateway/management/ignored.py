"""What a deployment asks that this platform accepts but cannot honour, said back to the
client (docs/management.md, "OpenFaaS fields and labels"): OpenFaaS clients send these,
so refusing them would break their automation, and dropping them silently would let a
user believe they took effect."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.api_types.bodies import FunctionDeployment

FUNCTIONS_NETWORK = "functions"
IGNORED_LABELS = {
    "com.openfaas.health.http.path": "readiness is the image's health check "
    "(the watchdog's /_/health and lock file)",
    "com.openfaas.health.http.initialDelay": "readiness is the image's health check "
    "(the watchdog's /_/health and lock file)",
}


def ignored_parts(deployment: FunctionDeployment) -> list[str]:
    """One sentence per field or label of `deployment` that has no effect here."""
    said = []
    if deployment.network and deployment.network != FUNCTIONS_NETWORK:
        said.append(
            f"network {deployment.network!r} is ignored: functions always live on the "
            f"{FUNCTIONS_NETWORK!r} overlay network"
        )
    for label in sorted((deployment.labels or {}).keys() & IGNORED_LABELS.keys()):
        said.append(f"label {label!r} is kept but ignored: {IGNORED_LABELS[label]}")
    return said


def warning_header(sentences: Sequence[str]) -> str:
    """The sentences as one HTTP `Warning` header value (RFC 7234's code 299, a
    persistent warning; agent `faas`): printable ASCII only (what a client sent may hold
    anything), quotes and backslashes escaped."""
    printable = ("".join(c if " " <= c <= "~" else "?" for c in s) for s in sentences)
    quoted = (s.replace("\\", "\\\\").replace('"', '\\"') for s in printable)
    return ", ".join(f'299 faas "{sentence}"' for sentence in quoted)
