"""The autoscaler: a control loop over every function, and the one place replicas change.

Every `interval` seconds it reads the gateway's own figures (calls started and in flight
per function, from its `LoadView`, which the proxy feeds), adds the function's async calls
still in the queue (`queued`, when async calls are on) to those in flight, measures the
millicores of the functions scaled on `cpu` (`cpu`, a `CpuMeter`), and asks each
function's `ReplicaPlanner` what to do. Changes go through the `Scaler` (the provider's `scale`,
logged and counted); the cold-start path and the Alertmanager webhook scale through it
too, and it tells the autoscaler, so the planners know which changes were the gateway's.

With several worker processes, each has an autoscaler but only the one holding the
`leadership` lock (`FileLock` on a file in the workers' shared folder) may decide: every
pass, the others try to take it and stand by. Its `LoadView` then reads every worker's
calls (the shared metric files). With several gateway containers, each has such a worker:
it must also hold the cluster-wide `lease` (the provider's `LeaderLease`, renewed every
pass) to decide, so one process in the whole cluster does (docs/scaling.md). That
process also adds the other containers' calls and alert floors to its own (`peers`, a
`ClusterLoad`), and every worker can report its container's (`report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from gateway.api_types.answers import FunctionLoad, LoadReport
from gateway.errors import GatewayError, NotSupported
from gateway.providers.base import Function, FunctionView, LeaderLease
from gateway.scaling.alert_floors import AlertFloors, latest_floors
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.cpu import CpuMeter
from gateway.scaling.load import LoadView
from gateway.scaling.peers import ClusterLoad, PeersSeen, container_identity
from gateway.scaling.policy import Load, ReplicaPlanner, ScalingPolicy, alert_replicas
from gateway.scaling.scaler import Scaler
from gateway.shared import FileLock
from gateway.versions.controller import CanaryController

log = logging.getLogger("gateway.scaling")

NO_LOAD = Load()
# After a failed scale call, leave the function alone for this long.
RETRY_SECONDS = 10.0


class _CallsArrived(Exception):
    """A call started while a park was being published: the function is not idle."""


class Autoscaler:
    """Keeps each function's replicas near `target` calls in flight per replica."""

    def __init__(
        self,
        provider: FunctionView,
        scaler: Scaler,
        load: LoadView,
        cold_start: ColdStart,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        leadership: FileLock | None = None,
        lease: LeaderLease | None = None,
        report_leader: Callable[[bool], None] | None = None,
        report_pass: Callable[[float], None] | None = None,
        canary: CanaryController | None = None,
        queued: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
        cpu: CpuMeter | None = None,
        floors: AlertFloors | None = None,
        peers: ClusterLoad | None = None,
    ) -> None:
        self._provider = provider
        self._scaler = scaler
        self._load_view = load
        self.cold_start = cold_start
        self._interval = interval
        self._clock = clock
        self._planners: dict[str, ReplicaPlanner] = {}
        self._retry_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.enabled = True
        self.leadership = leadership
        self.lease = lease
        self.report_leader = report_leader
        self.report_pass = report_pass  # the CPU seconds of each pass this process decides
        self.leading = False  # whether this process decided on its last pass
        self.canary = canary  # stepped on each pass this process decides
        self._queued = queued
        self._queue_unknown = False  # warned once until it is known again
        self._cpu = cpu
        self.floors = floors or AlertFloors()
        self.peers = peers  # the other gateway containers' load, read when deciding
        self.identity = peers.identity if peers is not None else container_identity(None)
        # Calls started per function (this container's) at the pass, for a park's check.
        self._own_started: dict[str, int] = {}
        scaler.subscribe(self._scaled)

    def start(self) -> None:
        """Run the control loop in the background (call from the app's lifespan)."""
        if self._task is None:
            self._lead(False)  # the gauge shows 0 until the first pass that leads
            self._task = asyncio.create_task(self._run(), name="autoscaler")

    async def close(self) -> None:
        """Stop the loop (the cold-start path is closed by its owner)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading and self.lease is not None:
            await self.lease.release()
        self._lead(False)
        if self.leadership is not None:
            self.leadership.release()
        if self.peers is not None:
            await self.peers.close()

    def policy(self, function: Function) -> ScalingPolicy:
        """The function's policy from its labels (see `Scaler.policy`)."""
        return self._scaler.policy(function)

    def planner(self, name: str) -> ReplicaPlanner | None:
        """The planner of a function, once the autoscaler has seen it (for tests)."""
        return self._planners.get(name)

    async def tick(self) -> None:
        """One pass of the control loop over every function."""
        if not self.enabled or not self._provider.status().ready:
            return
        if not await self._may_decide():
            return
        if self.canary is not None:
            await self.canary.tick()
        queued = await self._queued_calls()
        functions = self._provider.functions()
        cpu = await self._cpu_load(functions)
        peers = await self.peers.gather() if self.peers is not None else PeersSeen()
        now = self._clock()
        own = self._load()
        floors = latest_floors([self.floors.known(), *peers.alerts])
        self._own_started = {name: sample.started for name, sample in own.items()}
        seen: set[str] = set()
        for function in functions:
            name, metric_name = function.name, function.metric_name
            seen.add(name)
            if function.job:  # its calls run in containers of their own, never replicas
                continue
            sample = own.get(metric_name, NO_LOAD)
            # Calls waiting for a replica count as calls in flight.
            inflight = sample.inflight + queued.get(name, 0) + peers.inflight.get(metric_name, 0)
            started = sample.started + peers.started.get(metric_name, 0)
            sample = Load(started, inflight, cpu.get(name))
            planner = self._planner_for(name, now, sample)
            planner.alert_floor = floors.get(name, 0)
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
        self._scaler.forget_others(seen)
        if self._cpu is not None:
            self._cpu.forget_others(seen)
        if self.peers is not None:
            self.peers.forget_others({f.metric_name for f in functions})

    async def _cpu_load(self, functions: Sequence[Function]) -> dict[str, float]:
        """Millicores per function scaled on `cpu` (with replicas), measured at once."""
        if self._cpu is None:
            return {}
        measured = [f for f in functions if f.replicas > 0 and self.policy(f).type == "cpu"]
        found = await asyncio.gather(*(self._cpu.millicores(f) for f in measured))
        return {
            f.name: cores for f, cores in zip(measured, found, strict=True) if cores is not None
        }

    async def _may_decide(self) -> bool:
        """Whether this process leads: holds the workers' lock, then the cluster's lease."""
        if self.leadership is not None and not self.leadership.try_acquire():
            return False
        if self.lease is not None and not await self.lease.hold():
            if self.leading:
                log.info("another gateway holds the autoscaler's lease: standing by")
            self._lead(False)
            return False
        if not self.leading:
            if self.leadership is not None or self.lease is not None:
                log.info("this process (pid %d) now runs the autoscaler", os.getpid())
                # What the planners knew is stale: start afresh from what the view shows.
                self._planners.clear()
                self._retry_at.clear()
            self._lead(True)
        return True

    def _lead(self, leading: bool) -> None:
        if not leading and self.peers is not None:
            self.peers.stand_by()
        self.leading = leading
        if self.report_leader is not None:
            self.report_leader(leading)

    async def set_replicas(self, function: Function, replicas: int, reason: str) -> None:
        """Scale `function` to `replicas` through the `Scaler` (raises its `GatewayError`s)."""
        await self._scaler.set_replicas(function, replicas, reason)

    def _scaled(self, name: str, replicas: int) -> None:
        now = self._clock()
        self._planner_for(name, now, NO_LOAD).scaled(now, replicas)

    async def alert(self, function: Function, firing: bool) -> int:
        """Apply an Alertmanager alert: firing adds `factor`% of `max` and holds that as a
        floor; resolved drops the floor and goes back to `min`. Returns the replicas set."""
        now = self._clock()
        policy = self.policy(function)
        sample = self._load().get(function.metric_name, NO_LOAD)
        planner = self._planner_for(function.name, now, sample)
        if firing:
            replicas = alert_replicas(policy, function.replicas, firing=True)
            planner.alert_floor = replicas
            self.floors.firing(function.name, replicas)
        else:
            planner.alert_floor = 0
            self.floors.resolved(function.name)
            if function.replicas <= 0:
                return 0
            replicas = planner.floor(policy)
        if replicas != function.replicas:
            status = "firing" if firing else "resolved"
            await self.set_replicas(function, replicas, f"alert {status}")
        return replicas

    async def _run(self) -> None:
        while self.enabled:
            # The loop's thread time over the pass: an upper bound of the pass's own CPU
            # (calls served while it awaits count too), which grows with the functions.
            cpu_before = time.thread_time()
            try:
                await self.tick()
            except Exception:
                log.exception("autoscaler pass failed")
            if self.leading and self.report_pass is not None:
                self.report_pass(time.thread_time() - cpu_before)
            await asyncio.sleep(self._interval)

    async def _queued_calls(self) -> Mapping[str, int]:
        """Async calls not yet finished per function (by its service name), or {}.

        Bounded by half a pass: a broker that is connected but does not answer must not
        slow the scaling of every function's sync calls."""
        if self._queued is None:
            return {}
        try:
            async with asyncio.timeout(self._interval / 2):
                queued = await self._queued()
        except Exception as error:  # the broker away: scale on the gateway's calls alone
            if not self._queue_unknown:
                log.warning("async queue depth unknown, scaling without it: %r", error)
            self._queue_unknown = True
            return {}
        if self._queue_unknown:
            log.info("async queue depth known again")
        self._queue_unknown = False
        return queued

    def report(self) -> LoadReport:
        """This container's calls and alert floors, for the autoscaler of another
        (`GET /system/load`); any worker answers alike."""
        return LoadReport(
            gateway=self.identity,
            functions={
                name: FunctionLoad(started=max(0, started), inflight=max(0, inflight))
                for name, (started, inflight) in self._load_view.load().items()
            },
            alerts=self.floors.known(),
        )

    def _load(self) -> dict[str, Load]:
        return {
            name: Load(started, inflight)
            for name, (started, inflight) in self._load_view.load().items()
        }

    def _planner_for(self, name: str, now: float, sample: Load) -> ReplicaPlanner:
        planner = self._planners.get(name)
        if planner is None:
            planner = self._planners[name] = ReplicaPlanner.start(now, sample)
        return planner

    async def _park(self, function: Function) -> None:
        # No await between this check and entering `parking`: a call that starts after
        # the check finds the park and is held by the cold-start path.
        started, inflight = self._load_view.load().get(function.metric_name, (0, 0))
        if inflight > 0 or started != self._own_started.get(function.metric_name, 0):
            return
        with (
            contextlib.suppress(GatewayError, _CallsArrived),
            self.cold_start.parking(function.name),
        ):
            shared = self.cold_start.shared
            if shared is not None:
                # Other workers hold new calls once they have read the park; a call one
                # of them started before that shows in the load read after the wait.
                await asyncio.sleep(shared.publish_wait)
                now_started, now_inflight = self._load_view.load().get(function.metric_name, (0, 0))
                if now_inflight > 0 or now_started != started:
                    raise _CallsArrived
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
