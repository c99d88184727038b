"""The autoscaler: a control loop over every function, and the one place replicas change.

Every `interval` seconds it reads the gateway's own figures (calls started and in flight
per function, from `GatewayMetrics`) and asks each function's `ReplicaPlanner` what to
do. Scale changes go through the provider's `scale` (on Swarm: the service's replicas),
are logged, and counted in `gateway_scale_events_total`. The cold-start path and the
Alertmanager webhook scale through `set_replicas` too, so the planners know which
changes were theirs.

One gateway process runs one autoscaler. Several gateway replicas would each run one and
fight over the same services: that needs leader election first (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from gateway.errors import GatewayError, NotSupported
from gateway.functions import Function, ProviderStatus
from gateway.replicas import ReplicaResolver
from gateway.scaling.cold_start import ColdStart, Probe, tcp_probe
from gateway.scaling.policy import (
    Load,
    ReplicaPlanner,
    ScalingPolicy,
    alert_replicas,
    policy_from_labels,
)

log = logging.getLogger("gateway.scaling")

NO_LOAD = Load()
# After a failed scale call, leave the function alone for this long.
RETRY_SECONDS = 10.0


class ReplicaScaler(Protocol):
    """Sets a function's desired replicas (the provider's `scale`)."""

    async def scale(self, name: str, replicas: int) -> None:
        """Set `name`'s desired replicas; `GatewayError`s on failure."""


class FunctionSource(Protocol):
    """The provider's in-memory view (no I/O)."""

    def lookup(self, name: str) -> Function | None:
        """The function called `name`, if any."""

    def functions(self) -> Sequence[Function]:
        """Every function currently known."""

    def status(self) -> ProviderStatus:
        """Whether the view is usable."""


class ScalingMetrics(Protocol):
    """Where the autoscaler reports (implemented by `GatewayMetrics`)."""

    def load(self) -> Mapping[str, tuple[int, int]]:
        """(calls started, calls in flight) per function."""

    def scale_event(self, function_name: str, direction: str, replicas: int) -> None:
        """Count one scale change and remember the replicas set."""

    def cold_start(self, function_name: str, seconds: float) -> None:
        """Record one wake-up's duration."""


class Autoscaler:
    """Keeps each function's replicas near `target` calls in flight per replica."""

    def __init__(
        self,
        provider: FunctionSource,
        scaler: ReplicaScaler,
        metrics: ScalingMetrics,
        resolver: ReplicaResolver,
        *,
        interval: float = 2.0,
        cold_start_timeout: float = 30.0,
        probe: Probe | None = None,
        connect_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.2,
    ) -> None:
        self._provider = provider
        self._scaler = scaler
        self._metrics = metrics
        self._interval = interval
        self._clock = clock
        self._planners: dict[str, ReplicaPlanner] = {}
        self._retry_at: dict[str, float] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.enabled = True
        self.cold_start = ColdStart(
            self,
            provider,
            resolver,
            metrics,
            timeout=cold_start_timeout,
            probe=probe or functools.partial(tcp_probe, within=connect_timeout),
            clock=clock,
            poll_interval=poll_interval,
        )

    def start(self) -> None:
        """Run the control loop in the background (call from the app's lifespan)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="autoscaler")

    async def close(self) -> None:
        """Stop the loop and any wake-up under way."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.cold_start.close()

    def policy(self, function: Function) -> ScalingPolicy:
        """The function's policy from its labels; invalid labels are logged once."""
        policy, problems = policy_from_labels(function.labels)
        for problem in problems:
            key = (function.name, problem.label, problem.value)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("function %s: %s", function.name, problem)
        return policy

    def planner(self, name: str) -> ReplicaPlanner | None:
        """The planner of a function, once the autoscaler has seen it (for tests)."""
        return self._planners.get(name)

    async def tick(self) -> None:
        """One pass of the control loop over every function."""
        if not self.enabled or not self._provider.status().ready:
            return
        now = self._clock()
        load = self._load()
        seen: set[str] = set()
        for function in self._provider.functions():
            name = function.name
            seen.add(name)
            sample = load.get(name, NO_LOAD)
            planner = self._planner_for(name, now, sample)
            replicas = planner.observe(now, self.policy(function), function.replicas, sample)
            if replicas is None or self.cold_start.busy(name):
                continue
            if self._retry_at.get(name, 0.0) > now:
                continue
            if replicas == 0:
                await self._park(function)
            else:
                await self._try_scale(function, replicas, "load")
            if not self.enabled:
                return
        for name in self._planners.keys() - seen:
            del self._planners[name]
            self._retry_at.pop(name, None)

    async def set_replicas(self, function: Function, replicas: int, reason: str) -> None:
        """Scale `function` to `replicas` (raises the provider's `GatewayError`s)."""
        await self._scaler.scale(function.name, replicas)
        now = self._clock()
        self._planner_for(function.name, now, NO_LOAD).scaled(now, replicas)
        direction = "up" if replicas > function.replicas else "down"
        self._metrics.scale_event(function.name, direction, replicas)
        log.info(
            "function %s: scaled %s from %d to %d replicas (%s)",
            function.name,
            direction,
            function.replicas,
            replicas,
            reason,
        )

    async def alert(self, function: Function, firing: bool) -> int:
        """Apply an Alertmanager alert: firing adds `factor`% of `max` and holds that as a
        floor; resolved drops the floor and goes back to `min`. Returns the replicas set."""
        now = self._clock()
        policy = self.policy(function)
        planner = self._planner_for(function.name, now, self._load().get(function.name, NO_LOAD))
        if firing:
            replicas = alert_replicas(policy, function.replicas, firing=True)
            planner.alert_floor = replicas
        else:
            planner.alert_floor = 0
            if function.replicas <= 0:
                return 0
            replicas = planner.floor(policy)
        if replicas != function.replicas:
            status = "firing" if firing else "resolved"
            await self.set_replicas(function, replicas, f"alert {status}")
        return replicas

    async def _run(self) -> None:
        while self.enabled:
            try:
                await self.tick()
            except Exception:
                log.exception("autoscaler pass failed")
            await asyncio.sleep(self._interval)

    def _load(self) -> dict[str, Load]:
        return {
            name: Load(started, inflight)
            for name, (started, inflight) in self._metrics.load().items()
        }

    def _planner_for(self, name: str, now: float, sample: Load) -> ReplicaPlanner:
        planner = self._planners.get(name)
        if planner is None:
            planner = self._planners[name] = ReplicaPlanner.start(now, sample)
        return planner

    async def _park(self, function: Function) -> None:
        # No await between this check and entering `parking`: a call that starts after
        # the check finds the park and is held by the cold-start path.
        started, inflight = self._metrics.load().get(function.name, (0, 0))
        planner = self._planners[function.name]
        if inflight > 0 or started != planner.last_started:
            return
        with contextlib.suppress(GatewayError), self.cold_start.parking(function.name):
            await self._try_scale(function, 0, "idle", reraise=True)

    async def _try_scale(
        self, function: Function, replicas: int, reason: str, *, reraise: bool = False
    ) -> None:
        try:
            await self.set_replicas(function, replicas, reason)
        except NotSupported as error:
            log.warning("autoscaling off: %s", error.message)
            self.enabled = False
            if reraise:
                raise
        except GatewayError as error:
            log.warning(
                "function %s: cannot scale to %d replicas (%s): %s; retrying in %gs",
                function.name,
                replicas,
                reason,
                error.message,
                RETRY_SECONDS,
            )
            self._retry_at[function.name] = self._clock() + RETRY_SECONDS
            if reraise:
                raise
