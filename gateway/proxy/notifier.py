"""What the hot path tells others about each call, and what it asks to get a ready replica.

Both are protocols the proxy receives ready-made (as the OpenFaaS gateway's forwarding
proxy takes its metrics notifiers): `gateway.metrics.GatewayMetrics` and the autoscaler's
`gateway.scaling.load.LoadCounter` are notifiers, `gateway.scaling.cold_start.ColdStart`
is the waker, which only the forwarder holds. The proxy imports neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.providers.base import Function


class InvocationNotifier(Protocol):
    """Told when a routed call to a known function starts and how it ends."""

    def invocation_started(self, metric_name: str) -> None:
        """A call is about to be sent to the function counted as `metric_name`."""

    def invocation_finished(self, metric_name: str, code: int, seconds: float) -> None:
        """A call started with `invocation_started` ended with status `code`."""


class Notifiers:
    """Several notifiers behind one (each told in order)."""

    def __init__(self, notifiers: Sequence[InvocationNotifier]) -> None:
        self._notifiers = tuple(notifiers)

    def invocation_started(self, metric_name: str) -> None:
        """See `InvocationNotifier.invocation_started`."""
        for notifier in self._notifiers:
            notifier.invocation_started(metric_name)

    def invocation_finished(self, metric_name: str, code: int, seconds: float) -> None:
        """See `InvocationNotifier.invocation_finished`."""
        for notifier in self._notifiers:
            notifier.invocation_finished(metric_name, code, seconds)


class Waker(Protocol):
    """Waiting for a ready replica, as the forwarder sees it: scale from zero (`wake`) and
    holds while none answers (`hold`); `gateway.scaling.cold_start.ColdStart`."""

    def must_hold(self, name: str) -> bool:
        """Whether calls to `name` must wait although the view shows replicas (hot path)."""

    def can_wake(self, function: Function) -> bool:
        """Whether a call may wake `function` from zero."""

    async def wake(self, function: Function) -> Function:
        """Wait until `function` has a ready replica; its current view."""

    async def hold(self, function: Function) -> Function | None:
        """Wait until `function`, which should have replicas but has none ready, has one;
        its view then (None: it cannot wait, the caller answers its own error)."""
