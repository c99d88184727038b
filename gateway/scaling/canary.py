"""The canary controller: shifts a function's calls to a new version step by step, and
rolls back by itself when a step breaks a bound (docs/versions.md).

A canary's whole state lives in a label of the function's own service
(`com.faas.canary`, `gateway.deployments.CanaryState`), written with the weights in one
update: any gateway can continue it, and a restart continues it (the step under way is
measured again from the restart) rather than losing it. Only the process that runs the
autoscaler decides (the workers' lock and the cluster's lease), so steps happen once.

Each step reads the new version's finished calls from the gateway's own counters (every
worker's, through the shared metric files): its 5xx answers per call and its p99 latency
(from the duration histogram's buckets) since the step began.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from gateway.deployments import CanaryState, CanaryStep, canary_state
from gateway.errors import GatewayError
from gateway.labels import CANARY_LABEL
from gateway.providers.base import Function
from gateway.providers.traffic import weights_with

log = logging.getLogger("gateway.canary")

MAX_STEPS_KEPT = 30
"""The steps a canary's label keeps (the latest), for `faas describe`."""


class Outcome(Protocol):
    """A version's finished calls (`gateway.metrics.Outcomes`)."""

    @property
    def calls(self) -> int: ...

    @property
    def errors(self) -> int: ...

    @property
    def buckets(self) -> tuple[tuple[float, int], ...]: ...


class TrafficWriter(Protocol):
    """What the controller needs of the provider."""

    def functions(self) -> Sequence[Function]:
        """Every function known."""

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """Write the weights and the canary's state (`FunctionProvider.set_traffic`)."""


Report = Callable[[str, str, int, str], None]
"""(function, version, weight, result) of each step, for the metrics."""


class CanaryController:
    """Steps every running canary whose step is due (call `tick` from the deciding process)."""

    def __init__(
        self,
        provider: TrafficWriter,
        outcomes: Callable[[], Mapping[str, Outcome]],
        *,
        clock: Callable[[], float] = time.time,
        report: Report | None = None,
    ) -> None:
        self._provider = provider
        self._outcomes = outcomes
        self._clock = clock
        self._report = report
        # Per function and step (its `since`): the counts when this process first saw it.
        self._baselines: dict[tuple[str, float], tuple[float, int, int, dict[float, int]]] = {}

    async def tick(self) -> None:
        """One pass: measure each running canary's step, and step, promote or roll back."""
        running = [
            (function, state)
            for function in self._provider.functions()
            if function.traffic is not None
            and (state := canary_state(function.labels.get(CANARY_LABEL))) is not None
            and state.running
        ]
        if not running:
            self._baselines.clear()
            return
        outcomes = self._outcomes()
        now = self._clock()
        keep: set[tuple[str, float]] = set()
        for function, state in running:
            key = (function.name, state.since)
            keep.add(key)
            try:
                await self._check(function, state, outcomes, now, key)
            except GatewayError as error:
                log.warning("canary of %s: cannot write its step: %s", function.name, error.message)
        for key in self._baselines.keys() - keep:
            del self._baselines[key]

    async def _check(
        self,
        function: Function,
        state: CanaryState,
        outcomes: Mapping[str, Outcome],
        now: float,
        key: tuple[str, float],
    ) -> None:
        assert function.traffic is not None
        request = state.request
        target = function.traffic.version(request.to)
        if target is None:
            await self._end(function, state, "rolled_back", now, 0, 0, None, "version gone")
            return
        current = outcomes.get(target.metric_name)
        counts = _counts(current)
        baseline = self._baselines.get(key)
        if baseline is None:
            # A step this process did not see begin (a restart): measure it from now.
            self._baselines[key] = (now, *counts)
            return
        began, calls0, errors0, buckets0 = baseline
        if now - began < request.every:
            return
        calls, errors, buckets = counts
        calls -= calls0
        errors -= errors0
        p99 = _p99({b: n - buckets0.get(b, 0) for b, n in buckets.items()})
        rate = errors / calls if calls > 0 else 0.0
        reason = ""
        if calls > 0 and rate > request.max_error_rate:
            reason = f"error rate {rate:.2%} > {request.max_error_rate:.2%} over {calls} calls"
        elif request.max_latency is not None and p99 is not None and p99 > request.max_latency:
            reason = f"p99 {p99:g}s > {request.max_latency:g}s over {calls} calls"
        if reason:
            await self._end(function, state, "rolled_back", now, calls, errors, p99, reason)
            return
        weight = min(100, state.weight + request.step)
        if weight >= 100:
            await self._end(function, state, "promoted", now, calls, errors, p99, "")
            return
        weights = weights_with(_usable(state.origin, function), request.to, weight)
        step = CanaryStep(weight=weight, at=now, result="step", calls=calls, errors=errors, p99=p99)
        stepped = state.model_copy(
            update={"weight": weight, "since": now, "steps": _kept(state.steps, step)}
        )
        await self._provider.set_traffic(function.name, weights, stepped.label())
        log.info("canary of %s: %s at %d%% (%d calls, %d errors in the step)",
                 function.name, request.to, weight, calls, errors)  # fmt: skip
        self._tell(function.name, request.to, weight, "step")

    async def _end(
        self,
        function: Function,
        state: CanaryState,
        status: str,
        now: float,
        calls: int,
        errors: int,
        p99: float | None,
        reason: str,
    ) -> None:
        assert function.traffic is not None
        to = state.request.to
        versions = function.traffic.versions
        if status == "promoted":
            weights = {version: 100 if version == to else 0 for version in versions}
        else:
            weights = _usable(state.origin, function)
        weight = weights.get(to, 0)
        step = CanaryStep(weight=weight, at=now, result=status, calls=calls, errors=errors,
                          p99=p99, reason=reason)  # fmt: skip
        ended = state.model_copy(
            update={"weight": weight, "since": now, "status": status,
                    "steps": _kept(state.steps, step)}
        )  # fmt: skip
        await self._provider.set_traffic(function.name, weights, ended.label())
        if status == "promoted":
            log.info("canary of %s: %s promoted to 100%%", function.name, to)
        else:
            log.warning("canary of %s: rolled back from %s: %s", function.name, to, reason)
        self._tell(function.name, to, weight, status)

    def _tell(self, name: str, version: str, weight: int, result: str) -> None:
        if self._report is not None:
            self._report(name, version, weight, result)


def _counts(outcome: Outcome | None) -> tuple[int, int, dict[float, int]]:
    if outcome is None:
        return 0, 0, {}
    return outcome.calls, outcome.errors, dict(outcome.buckets)


def _p99(buckets: Mapping[float, int]) -> float | None:
    """The upper bound of the bucket holding the 99th percentile (None without calls)."""
    total = sum(count for count in buckets.values() if count > 0)
    if total <= 0:
        return None
    seen = 0
    for bound in sorted(buckets):
        seen += max(buckets[bound], 0)
        if seen >= 0.99 * total:
            return bound
    return None


def _usable(origin: Mapping[str, int], function: Function) -> dict[str, int]:
    """The weights from before the canary, for the versions that still exist."""
    assert function.traffic is not None
    versions = function.traffic.versions
    weights = {version: origin.get(version, 0) for version in versions}
    if sum(weights.values()) != 100:
        return dict(function.traffic.weights)
    return weights


def _kept(steps: tuple[CanaryStep, ...], step: CanaryStep) -> tuple[CanaryStep, ...]:
    return (*steps, step)[-MAX_STEPS_KEPT:]
