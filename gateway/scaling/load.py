"""What the autoscaler reads: calls started and in flight per function.

`LoadCounter` is an invocation notifier (`gateway.proxy.notifier.InvocationNotifier`):
the proxy tells it of each call, as it tells the metrics, so the autoscaler never reads
the Prometheus series.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol


class LoadView(Protocol):
    """(calls started, calls in flight) per function."""

    def load(self) -> Mapping[str, tuple[int, int]]:
        """(calls started since the gateway began, calls in flight now) per function."""


class LoadCounter:
    """Counts calls per function for the autoscaler (only on the event loop)."""

    def __init__(self) -> None:
        self._started: dict[str, int] = {}
        self._inflight: dict[str, int] = {}

    def invocation_started(self, metric_name: str) -> None:
        """A call is about to be sent to the function counted as `metric_name`."""
        self._started[metric_name] = self._started.get(metric_name, 0) + 1
        self._inflight[metric_name] = self._inflight.get(metric_name, 0) + 1

    def invocation_finished(self, metric_name: str, code: int, seconds: float) -> None:
        """A call started with `invocation_started` ended."""
        self._inflight[metric_name] -= 1

    def load(self) -> dict[str, tuple[int, int]]:
        """See `LoadView.load`."""
        inflight = self._inflight
        return {name: (started, inflight[name]) for name, started in self._started.items()}

    def forget_removed(self, known: Collection[str]) -> None:
        """Drop functions not in `known` that have no call in flight."""
        for name in [n for n in self._started if n not in known and not self._inflight[n]]:
            del self._started[name]
            del self._inflight[name]
