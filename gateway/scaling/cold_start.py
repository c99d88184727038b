"""Scale from zero: hold calls to a function at 0 replicas until a replica is ready.

The first call to a sleeping function starts one wake-up (scale to its `min`, then wait
until a replica resolves and accepts a connection); every call that arrives meanwhile
waits on that same wake-up. The wait is bounded (`GATEWAY_HOLD_TIMEOUT`):
past it, every held call gets 503 with a message that says so.

Scale to zero goes through `parking` (`gateway.scaling.parking`): while it is in flight,
`must_hold` tells the forwarder to hold new calls here. A wake after a park first lets
the parked replicas leave DNS, so the held calls go to the new one.

With several worker processes (`SharedParking`), parks reach every worker through a file
(`gateway.scaling.parked_file`), and a wake-up is made by whichever worker takes the
function's wake lock first, the others only wait for a ready replica, so replicas change
(and the cold start is counted) once. A replica's failure one worker saw is remembered
for every worker (`failures`; `gateway.scaling.failures`).

The same wait (`hold`) covers a function that should have replicas but has none ready (a
stop-first update, a crash restart): the forwarder asks for it when no replica resolves or
none accepts a connection. How a ready replica is found: `gateway.scaling.readiness`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from gateway.errors import FunctionNotFound, GatewayError
from gateway.labels import is_paused
from gateway.providers.base import Function, FunctionView
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.failures import ColdStartFailed, FailureMemory, ReplicaFailed
from gateway.scaling.parked_file import SharedParking
from gateway.scaling.parking import Parking
from gateway.scaling.probes import Probe
from gateway.scaling.readiness import POLL_SECONDS, Readiness, TaskLister
from gateway.scaling.scaler import Scaler
from gateway.shared import FileLock, SharedTable

log = logging.getLogger("gateway.scaling")

# The setting that bounds every hold, as error messages name it (the old name still works).
TIMEOUT_SETTING = "GATEWAY_HOLD_TIMEOUT, or GATEWAY_SCALE_FROM_ZERO_TIMEOUT"


class _CannotHold(Exception):
    """The provider cannot list a function's replicas: there is nothing to wait for."""


class ColdStart:
    """One wake-up per sleeping function, shared by every call that waits for it.

    Its own part, whether or not the autoscaler runs: the forwarder holds it as its waker.
    """

    must_hold: Callable[[str], bool]
    """Whether calls to `name` must wait here although the view shows replicas (hot path:
    `Parking.must_hold` itself, no call in between)."""

    def __init__(
        self,
        scaler: Scaler,
        provider: FunctionView,
        resolver: ReplicaResolver,
        *,
        timeout: float,
        probe: Probe,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = POLL_SECONDS,
        shared: SharedParking | None = None,
        tasks: TaskLister | None = None,
        task_probe: Probe | None = None,
        failures: SharedTable | None = None,
    ) -> None:
        self._scaler = scaler
        self._provider = provider
        self._timeout = timeout
        self._clock = clock
        self.shared = shared
        self.parks = Parking(clock, shared)
        self.must_hold = self.parks.must_hold
        self._failures = FailureMemory(clock, failures)
        self._readiness = Readiness(
            provider,
            resolver,
            self._failures,
            probe=probe,
            task_probe=task_probe or probe,
            tasks=tasks,
            clock=clock,
            poll_interval=poll_interval,
        )
        self._wakes: dict[str, asyncio.Task[Function]] = {}
        self._holds: dict[str, asyncio.Task[Function]] = {}

    def can_wake(self, function: Function) -> bool:
        """Whether a call may wake `function`: any function at zero, however it got there
        (the autoscaler, `faas-cli scale`, the API), unless it is switched off
        (`com.faas.paused=true`), or a job (its calls run in containers of their own)."""
        return not function.job and not is_paused(function.labels)

    def busy(self, name: str) -> bool:
        """Whether a wake-up or a park of `name` is under way (the autoscaler keeps off)."""
        return name in self._wakes or self.must_hold(name)

    def parking(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Hold calls to `name` while the body scales it to 0 (`Parking.parking`)."""
        return self.parks.parking(name)

    def start(self) -> None:
        """With `shared`: follow the other workers' parks in the background."""
        self.parks.start()

    async def wake(self, function: Function) -> Function:
        """Wait until `function` has a ready replica (starting one if needed) and return
        its current view; `ColdStartFailed` when that takes longer than the timeout.

        The view returned may name one replica's address as its `upstream_host` (a
        replica found through the engine before DNS lists it)."""
        return await self._shared(self._wakes, function, self._wake)

    async def hold(self, function: Function) -> Function | None:
        """Wait until `function`, which should have replicas but has none ready (none
        resolves, none accepts a connection), has one; its view as `wake` returns it.

        None when the provider cannot list replicas (nothing to wait for: the caller
        answers its own error); `ColdStartFailed` after the timeout, `ReplicaFailed` at
        once when a replica fails to start meanwhile. Calls held together share one wait.
        """
        if not self._readiness.lists_tasks:
            return None
        ready = await self._readiness.recently_ready(function)
        if ready is not None:
            return ready
        try:
            return await self._shared(self._holds, function, self._hold)
        except _CannotHold:
            return None

    async def _shared(
        self,
        waits: dict[str, asyncio.Task[Function]],
        function: Function,
        wait: Callable[[Function], Awaitable[Function]],
    ) -> Function:
        name = function.name
        task = waits.get(name)
        if task is None:
            task = asyncio.ensure_future(wait(function))
            waits[name] = task

            def forget(done: asyncio.Task[Function]) -> None:
                if waits.get(name) is done:
                    del waits[name]
                if not done.cancelled():
                    done.exception()  # retrieved: waiters got it already

            task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel wake-ups and holds under way (at shutdown)."""
        tasks = [*self._wakes.values(), *self._holds.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.parks.close()

    async def _wake(self, function: Function) -> Function:
        name = function.name
        started = self._clock()
        park = self.parks.get(name)
        # With several workers, the one holding the lock scales; the others wait.
        lock = FileLock(self.shared.wake_lock(name)) if self.shared is not None else None
        waking = lock is None or lock.try_acquire()
        try:
            async with asyncio.timeout(self._timeout):
                if park is not None:
                    await park.done.wait()
                    if not park.failed:
                        await self._readiness.until_drained(function)
                current = self._provider.lookup(name) or function
                wanted = (park is not None and not park.failed) or current.replicas <= 0
                # Taken before scaling, so that a new task failing at once is new here.
                watch = await self._readiness.watch(name)
                scaled = wanted and waking
                if scaled:
                    replicas = max(self._scaler.policy(current).min_replicas, 1)
                    await self._scaler.set_replicas(current, replicas, "scale from zero")
                ready = await self._readiness.until_ready(name, watch)
        except TimeoutError:
            raise ColdStartFailed(
                name,
                f"function {name!r} has no running replicas and none became ready within "
                f"{self._timeout:g}s of scaling it from zero ({TIMEOUT_SETTING})",
            ) from None
        except (FunctionNotFound, ColdStartFailed):
            raise
        except GatewayError as error:
            raise ColdStartFailed(
                name, f"function {name!r} has no running replicas: {error.message}"
            ) from None
        finally:
            if park is not None:
                self.parks.end(name, park)
            if lock is not None:
                lock.release()
        seconds = self._clock() - started
        if not scaled:  # another worker woke it (it held the lock, or just let it go)
            return ready
        self._scaler.metrics.cold_start(function.metric_name, seconds)
        log.info("function %s: cold start took %.2fs", name, seconds)
        return ready

    async def _hold(self, function: Function) -> Function:
        name = function.name
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                watch = await self._readiness.watch(name)
                if watch is None:
                    raise _CannotHold
                failure = self._failures.recent(name)
                if failure is not None and not watch.addresses:
                    raise ReplicaFailed(name, failure)
                ready = await self._readiness.until_ready(name, watch)
        except TimeoutError:
            raise ColdStartFailed(
                name,
                f"function {name!r} has no ready replica and none became ready within "
                f"{self._timeout:g}s ({TIMEOUT_SETTING})",
            ) from None
        log.info(
            "function %s: held calls %.2fs until a replica was ready",
            name,
            self._clock() - started,
        )
        return ready
