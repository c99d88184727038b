"""`Scaler`: the one place the gateway changes a function's replicas.

The autoscaler, the cold-start path and the Alertmanager webhook all scale through
`set_replicas`, which calls the provider, counts the change in the metrics and logs it,
then tells its listeners (the autoscaler's planners, so they know which changes were the
gateway's own). It works with or without the autoscaler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from gateway.providers.base import Function, ReplicaScaler
from gateway.scaling.policy import ScalingPolicy, policy_from_labels

log = logging.getLogger("gateway.scaling")

ScaledListener = Callable[[str, int], None]
"""Told (function name, replicas) after each change the gateway made."""


class ScalingMetrics(Protocol):
    """Where scaling reports (implemented by `gateway.metrics.GatewayMetrics`)."""

    def scale_event(self, metric_name: str, direction: str, replicas: int) -> None:
        """Count one scale change and remember the replicas set (`metric_name`: the
        function's `metric_name`, so that a version's series carry its version)."""

    def cold_start(self, metric_name: str, seconds: float) -> None:
        """Record one wake-up's duration."""


class Scaler:
    """Sets replicas through the provider, and reads each function's scaling policy."""

    def __init__(self, provider: ReplicaScaler, metrics: ScalingMetrics) -> None:
        self._provider = provider
        self.metrics = metrics
        self._listeners: list[ScaledListener] = []
        self._warned: set[tuple[str, str, str]] = set()
        # Read once per labels: the autoscaler asks on every pass for every function, and
        # parsing the labels was most of a pass's CPU at 1,000 functions. A changed
        # function comes as a new `Function` with new labels (the key is their identity).
        self._policies: dict[str, tuple[Mapping[str, str], ScalingPolicy]] = {}

    def subscribe(self, listener: ScaledListener) -> None:
        """Call `listener` after every change `set_replicas` makes."""
        self._listeners.append(listener)

    def policy(self, function: Function) -> ScalingPolicy:
        """The function's policy from its labels; invalid labels are logged once."""
        cached = self._policies.get(function.name)
        if cached is not None and cached[0] is function.labels:
            return cached[1]
        policy, problems = policy_from_labels(function.labels)
        self._policies[function.name] = (function.labels, policy)
        for problem in problems:
            key = (function.name, problem.label, problem.value)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("function %s: %s", function.name, problem)
        return policy

    def forget_others(self, names: Collection[str]) -> None:
        """Drop the policies read for functions not in `names` (gone ones)."""
        for name in self._policies.keys() - set(names):
            del self._policies[name]

    async def set_replicas(self, function: Function, replicas: int, reason: str) -> None:
        """Scale `function` to `replicas` (raises the provider's `GatewayError`s)."""
        await self._provider.scale(function.name, replicas)
        for listener in self._listeners:
            listener(function.name, replicas)
        direction = "up" if replicas > function.replicas else "down"
        self.metrics.scale_event(function.metric_name, direction, replicas)
        log.info(
            "function %s: scaled %s from %d to %d replicas (%s)",
            function.name,
            direction,
            function.replicas,
            replicas,
            reason,
        )
