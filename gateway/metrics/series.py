"""What the two renderers share: the exposition's content type, the names of the series
computed at scrape time, the provider's view as far as the metrics read it, and the
calls' outcomes as `/system/stats` reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COLD_START_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

# prometheus-client always appends `_total` to counters, but OpenFaaS exposes this one
# without it: it is exposed untyped under its exact OpenFaaS name.
STARTED = "gateway_function_invocation_started"
STARTED_HELP = "Function invocations started (a counter)."
INFLIGHT = "gateway_function_invocation_inflight"
SERVICE_COUNT = "gateway_service_count"
LEADER = "gateway_autoscaler_leader"
SERVICE_COUNT_HELP = "Desired replicas of each function, as the provider reports them."


class NamedReplicas(Protocol):
    """One function, as the metrics read it."""

    @property
    def name(self) -> str: ...

    @property
    def metric_name(self) -> str: ...

    @property
    def replicas(self) -> int: ...


class FunctionList(Protocol):
    """The provider's view, as far as the metrics read it."""

    def functions(self) -> Sequence[NamedReplicas]:
        """Every function currently known (with its name and desired replicas)."""


# The histogram of every call's duration, by function and status code.
SECONDS = "gateway_functions_seconds"

VERSION = "version"
"""The label of a version's series (docs/versions.md). A function with one version has
none: an empty value, which the renderers leave out, and which Prometheus's data model
treats as no label, so its series read exactly as before versions existed."""


def split_metric_name(metric_name: str) -> tuple[str, str]:
    """(function_name, version) of the name a function's calls are counted by
    (`Function.metric_name`): `hello@v2` is ("hello", "v2"), `hello` ("hello", "").

    Metrics take the one string on the hot path and split it once per series, so the
    proxy and the load counters keep a single key per version."""
    name, _, version = metric_name.partition("@")
    return name, version


def join_metric_name(function_name: str, version: str) -> str:
    """The inverse of `split_metric_name`."""
    return f"{function_name}@{version}" if version else function_name


@dataclass(frozen=True)
class Outcomes:
    """A function's finished calls since the gateway started (or since it was deployed
    again): how many, how many were answered with a 5xx, and how long they took.

    `buckets`: (upper bound in seconds, calls in that bucket alone), by bound, the last
    bound `inf`: the duration histogram summed over status codes.
    """

    calls: int
    errors: int
    buckets: tuple[tuple[float, int], ...]


def outcomes_by_function(
    samples: Iterable[tuple[str, str, float, float]],
) -> dict[str, Outcomes]:
    """`Outcomes` per function from (function_name, code, bucket bound, calls in that
    bucket alone) samples of the duration histogram."""
    buckets: dict[str, dict[float, float]] = {}
    errors: dict[str, float] = {}
    for name, code, bound, count in samples:
        per_bound = buckets.setdefault(name, {})
        per_bound[bound] = per_bound.get(bound, 0.0) + count
        if code[:1] == "5":
            errors[name] = errors.get(name, 0.0) + count
    return {
        name: Outcomes(
            calls=int(sum(per_bound.values())),
            errors=int(errors.get(name, 0.0)),
            buckets=tuple((bound, int(count)) for bound, count in sorted(per_bound.items())),
        )
        for name, per_bound in buckets.items()
    }
