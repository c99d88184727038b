"""What the two renderers share: the exposition's content type, the names of the series
computed at scrape time, and the provider's view as far as the metrics read it."""

from __future__ import annotations

from collections.abc import Sequence
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
    def replicas(self) -> int: ...


class FunctionList(Protocol):
    """The provider's view, as far as the metrics read it."""

    def functions(self) -> Sequence[NamedReplicas]:
        """Every function currently known (with its name and desired replicas)."""
