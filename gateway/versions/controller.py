"""The versions' controller: every change of a function's weights, whether asked through
the API (weights, promote, rollback, a canary's start and abort) or taken by a running
canary's steps (docs/versions.md).

`VersionController` does what the API asks; the HTTP layer only reads the request and
renders the `TrafficChange`. `CanaryController` steps the running canaries: only the
process that runs the autoscaler ticks it (the workers' lock and the cluster's lease), so
steps happen once. Both write the weights and the canary's state (`gateway.versions.canary`)
in one update of the function's own service, so any gateway can continue a canary, and a
restart continues it (the step under way is measured again from the restart) rather than
losing it.

Each step reads the new version's finished calls from the gateway's own counters (every
worker's, through the shared metric files): its 5xx answers per call and its p99 latency
(from the duration histogram's buckets) since the step began.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import BadRequest, Conflict, FunctionNotFound, GatewayError
from gateway.providers.base import Function
from gateway.versions.canary import CanaryState, canary_state
from gateway.versions.model import (
    CANARY_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    current_weights,
    parse_weights,
    weights_with,
    whole_function,
)
from gateway.versions.requests import (
    parse_canary_request,
    parse_promote_request,
    parse_weights_request,
)

log = logging.getLogger("gateway.versions")
steps_log = logging.getLogger("gateway.canary")


class Outcome(Protocol):
    """A version's finished calls (`gateway.metrics.Outcomes`)."""

    @property
    def calls(self) -> int: ...

    @property
    def errors(self) -> int: ...

    @property
    def buckets(self) -> tuple[tuple[float, int], ...]: ...


class TrafficWriter(Protocol):
    """What the controllers need of the provider."""

    def functions(self) -> Sequence[Function]:
        """Every function known."""

    def lookup(self, name: str) -> Function | None:
        """A function by name (`FunctionView.lookup`)."""

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """Write the weights and the canary's state (`FunctionProvider.set_traffic`)."""


@dataclass(frozen=True)
class TrafficChange:
    """Weights written: the function (its own service's name), its weights, what was done."""

    name: str
    weights: dict[str, int]
    done: str  # "weights set", "promoted v2", "canary aborted", ...


class VersionController:
    """The changes the API asks of a function's versions (each call names the function
    as the API path does: a version's name reaches its function)."""

    def __init__(self, provider: TrafficWriter, *, canaries_stepped: bool) -> None:
        self._provider = provider
        # Whether a `CanaryController` ticks on this gateway (it runs with the autoscaler).
        self._canaries_stepped = canaries_stepped

    async def set_weights(self, name: str, body: object) -> TrafficChange:
        """`{"v1": 90, "v2": 10}`: the weights, every version of the function listed
        (`BadRequest` naming the problem); a running canary stops."""
        function = self.whole(name)
        weights = parse_weights_request(body, versions_of(function))
        return await self._write(function, weights, None, "weights set")

    async def promote(self, name: str, body: object) -> TrafficChange:
        """`{"version": "v2"}`: every call to that version."""
        function = self.whole(name)
        version = parse_promote_request(body).version
        versions = versions_of(function)
        if version not in versions:
            raise BadRequest(f"version: {version!r} is not a version of {function.name!r} "
                             f"(its versions: {', '.join(versions)})")  # fmt: skip
        weights = {name: 100 if name == version else 0 for name in versions}
        return await self._write(function, weights, None, f"promoted {version}")

    async def rollback(self, name: str) -> TrafficChange:
        """The weights before the last change (a running canary: those before it)."""
        function = self.whole(name)
        canary = canary_state(function.labels.get(CANARY_LABEL))
        if canary is not None and canary.running:
            return await self.abort_canary(name)
        previous = parse_weights(function.labels.get(PREVIOUS_TRAFFIC_LABEL, ""))
        versions = versions_of(function)
        if previous is None or any(w > 0 and v not in versions for v, w in previous.items()):
            raise Conflict(f"function {function.name!r} has no previous weights to go back to")
        weights = {version: previous.get(version, 0) for version in versions}
        return await self._write(function, weights, None, "rolled back")

    async def start_canary(self, name: str, body: object) -> TrafficChange:
        """A canary (`CanaryRequest`) from the weights the function has now."""
        function = self.whole(name)
        wanted = parse_canary_request(body)
        if not self._canaries_stepped:
            # Its steps are taken by the autoscaler's pass: it would never move.
            raise Conflict(
                "a canary is stepped by the autoscaler, which is off on this gateway "
                "(GATEWAY_AUTOSCALE=false): set the weights with PUT "
                f"/system/functions/{function.name}/traffic, or turn the autoscaler on"
            )
        versions = versions_of(function)
        if wanted.to not in versions:
            raise BadRequest(f"to: {wanted.to!r} is not a version of {function.name!r} "
                             f"(its versions: {', '.join(versions)})")  # fmt: skip
        weights = current_weights(function)
        if weights.get(wanted.to, 0) >= 100:
            raise BadRequest(f"to: {wanted.to!r} has every call already")
        canary = CanaryState.start(wanted, weights, time.time())
        return await self._write(function, weights, canary, f"canary to {wanted.to} started")

    async def abort_canary(self, name: str) -> TrafficChange:
        """Stop the running canary, back to the weights before it."""
        function = self.whole(name)
        canary = canary_state(function.labels.get(CANARY_LABEL))
        if canary is None or not canary.running:
            raise Conflict(f"function {function.name!r} has no canary running")
        ended = canary.aborted(time.time())
        weights = {v: canary.origin.get(v, 0) for v in versions_of(function)}
        if sum(weights.values()) != 100:
            weights = current_weights(function)
        return await self._write(function, weights, ended, "canary aborted")

    def whole(self, name: str) -> Function:
        """The function `name` names, as a whole (its own service, with its versions)."""
        function = whole_function(name, self._provider.lookup)
        if function is None:
            raise FunctionNotFound(name)
        return function

    async def _write(
        self, function: Function, weights: dict[str, int], canary: CanaryState | None, done: str
    ) -> TrafficChange:
        await self._provider.set_traffic(function.name, weights, canary.label() if canary else None)
        log.info("function %s: %s: %s", function.name, done, weights)
        return TrafficChange(function.name, weights, done)


def versions_of(function: Function) -> list[str]:
    """The function's versions, sorted (its own alone when it has one)."""
    return sorted(current_weights(function) if function.traffic is None else
                  function.traffic.versions)  # fmt: skip


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
                steps_log.warning(
                    "canary of %s: cannot write its step: %s", function.name, error.message
                )
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
        stepped = state.stepped(weight, now, calls, errors, p99)
        await self._provider.set_traffic(function.name, weights, stepped.label())
        steps_log.info("canary of %s: %s at %d%% (%d calls, %d errors in the step)",
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
        ended = state.ended(status, weight, now, calls, errors, p99, reason)
        await self._provider.set_traffic(function.name, weights, ended.label())
        if status == "promoted":
            steps_log.info("canary of %s: %s promoted to 100%%", function.name, to)
        else:
            steps_log.warning("canary of %s: rolled back from %s: %s", function.name, to, reason)
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
