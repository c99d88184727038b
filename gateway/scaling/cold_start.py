"""Scale from zero: hold calls to a function at 0 replicas until a replica is ready.

The first call to a sleeping function starts one wake-up (scale to its `min`, then wait
until a replica resolves and accepts a connection); every call that arrives meanwhile
waits on that same wake-up. The wait is bounded (`GATEWAY_HOLD_TIMEOUT`):
past it, every held call gets 503 with a message that says so.

Scale to zero goes through `parking`: while the autoscaler's scale-to-0 is in flight,
and until the provider's view shows 0 (or a wake-up ends it), `must_hold` tells the proxy
to hold new calls here instead of sending them to a replica that is going away. A wake
after a park first lets the parked replicas leave DNS, so the held calls go to the new one.

With several worker processes (`SharedParking`), the worker that parks a function
publishes its name in a `SharedTable` every worker re-reads every `PARKED_POLL_SECONDS`, and
mirrors as a park of its own (the autoscaler waits `SharedParking.publish_wait` before it
scales to 0); and a wake-up is made by whichever worker takes the function's wake lock
first, the others only wait for a ready replica, so replicas change (and the cold start
is counted) once. A replica's failure one worker saw is remembered for every worker
(`failures`, a `SharedTable`), so none of them waits out a crash loop's restart to learn it.

Readiness does not wait for DNS: `tasks.<service>` lists a task only once its health
check has passed, and the engine's DNS answer is cached. While calls are held, the
provider's `replica_tasks` (on Swarm: the service's tasks and their overlay addresses) is
read every few polls and each running task's address is probed (`health_probe`) every
poll; the held calls go to the first address that answers. A task that fails (or is
rejected, e.g. its image is missing) while calls wait ends the wait at once with a 503
that says why. The same wait (`hold`) covers a function that should have replicas but
has none ready (a stop-first update, a crash restart): the forwarder asks for it when no
replica resolves or none accepts a connection. DNS stays the source in steady state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import FunctionNotFound, GatewayError, NoReplicas
from gateway.providers.base import Function, FunctionView, ReplicaTask
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.scaler import Scaler
from gateway.shared import FileLock, SharedTable

log = logging.getLogger("gateway.scaling")

Probe = Callable[[str, int], Awaitable[bool]]
"""Whether a replica at (address, port) is ready to take a call."""
TaskLister = Callable[[str], Awaitable["Sequence[ReplicaTask] | None"]]
"""The provider's `replica_tasks`: a function's replicas as the orchestrator has them."""

# How long a finished park keeps holding calls while the provider's view still shows
# replicas (its re-read lags the engine by a moment); after that the view is trusted.
PARK_CONFIRM_SECONDS = 15.0
# After a park, how long a wake waits for the parked replicas to leave DNS.
DRAIN_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.025
# While calls are held: DNS is asked every this many polls, the engine's tasks every
# this many (each an engine call); the tasks' addresses are probed at every poll.
DNS_EVERY = 8
TASKS_EVERY = 4
# The setting that bounds every hold, as error messages name it (the old name still works).
TIMEOUT_SETTING = "GATEWAY_HOLD_TIMEOUT, or GATEWAY_SCALE_FROM_ZERO_TIMEOUT"
# How long a replica a hold found ready takes the next held calls once it answers a
# probe, without asking the engine (DNS lists it within its health interval and TTL).
RECENT_READY_SECONDS = 1.0
# After a replica failed to start, how long a hold that finds no running replica answers
# with that failure at once (a crash loop: the next task is waiting out its restart delay).
FAILURE_MEMORY_SECONDS = 10.0
# A task's address that does not answer its health check this fast is tried again later.
TASK_PROBE_TIMEOUT = 0.5
TASK_CONNECT_TIMEOUT = 0.1
# How often each worker re-reads the functions other workers are parking.
PARKED_POLL_SECONDS = 0.1
# How long a published park stays in the shared table: a park lasts one scale call, and
# one left there by a worker that died while parking ends by itself.
PARKED_ENTRY_SECONDS = 300.0


@dataclass(frozen=True)
class SharedParking:
    """Files in the workers' shared folder: the parked names, and per-function wake locks."""

    parked: Path
    wake_lock: Callable[[str], Path]

    @property
    def publish_wait(self) -> float:
        """How long a park waits after publishing, so every worker has seen it."""
        return PARKED_POLL_SECONDS * 3


class ColdStartFailed(NoReplicas):
    """A function at 0 replicas could not be woken in time (503, like `NoReplicas`)."""

    def __init__(self, name: str, message: str) -> None:
        GatewayError.__init__(self, message)
        self.name = name


class ReplicaFailed(ColdStartFailed):
    """A replica of a function with none ready failed or was refused while calls waited
    (503 at once, naming the orchestrator's reason)."""


class _CannotHold(Exception):
    """The provider cannot list a function's replicas: there is nothing to wait for."""


class _TaskWatch:
    """Which tasks failed since the wait began (a failure from before is history)."""

    def __init__(self, tasks: Sequence[ReplicaTask] | None) -> None:
        self._failed = {task.id: task.failed for task in tasks or ()}
        self.addresses = running_addresses(tasks or ())

    def new_failure(self, tasks: Sequence[ReplicaTask]) -> ReplicaTask | None:
        """A task that failed since it was last seen (or appeared already failed)."""
        found = None
        for task in tasks:
            if task.failed and not self._failed.get(task.id, False):
                found = task
            self._failed[task.id] = task.failed
        return found


def running_addresses(tasks: Sequence[ReplicaTask]) -> tuple[str, ...]:
    """The addresses of the tasks whose container runs."""
    return tuple(task.address for task in tasks if task.running and task.address)


@dataclass
class _Park:
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None
    failed: bool = False


async def health_probe(address: str, port: int, within: float) -> bool:
    """Whether the watchdog at `address:port` is ready: it accepts a connection and
    `GET /_/health` answers with a status below 500 (the watchdog's 503: not yet)."""
    try:
        # A task's address answers nothing (no refusal either) until its container's
        # network is up: a short connect deadline lets the next poll try again soon.
        async with asyncio.timeout(min(within, TASK_CONNECT_TIMEOUT)):
            reader, writer = await asyncio.open_connection(address, port)
        async with asyncio.timeout(within):
            try:
                writer.write(
                    b"GET /_/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                    % address.encode()
                )
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return False
    parts = status_line.split(None, 2)
    return (
        len(parts) >= 2
        and parts[0].startswith(b"HTTP/")
        and parts[1].isdigit()
        and int(parts[1]) < 500
    )


async def tcp_probe(address: str, port: int, within: float) -> bool:
    """Whether `address:port` accepts a TCP connection within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            _, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ColdStart:
    """One wake-up per sleeping function, shared by every call that waits for it.

    Its own part, whether or not the autoscaler runs: the proxy holds it as its waker.
    """

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
        self._resolver = resolver
        self._timeout = timeout
        self._probe = probe
        self._clock = clock
        self._poll = poll_interval
        self._tasks = tasks
        self._task_probe = task_probe or probe
        self._parks: dict[str, _Park] = {}
        self._wakes: dict[str, asyncio.Task[Function]] = {}
        self._holds: dict[str, asyncio.Task[Function]] = {}
        # The replica a hold last found ready, and when: the next hold within
        # RECENT_READY_SECONDS goes there at once (DNS lists it a moment later).
        self._recent: dict[str, tuple[str, float]] = {}
        # The last failure a wait saw per function, and when; with `failures`, also the
        # ones other workers saw.
        self._failures: dict[str, tuple[str, float]] = {}
        self._shared_failures = failures
        self.shared = shared
        self._published: set[str] = set()  # parks of this worker, in the shared table
        self._mirrored: dict[str, _Park] = {}  # other workers' parks, as seen in it
        self._parked = SharedTable(shared.parked, recheck=0.0) if shared is not None else None
        self._watcher: asyncio.Task[None] | None = None

    def must_hold(self, name: str) -> bool:
        """Whether calls to `name` must wait here although the view shows replicas (hot path)."""
        if not self._parks:
            return False
        park = self._parks.get(name)
        if park is None:
            return False
        if park.ended_at is not None and self._clock() - park.ended_at > PARK_CONFIRM_SECONDS:
            del self._parks[name]
            return False
        return True

    def can_wake(self, function: Function) -> bool:
        """Whether a call may wake `function`: labelled `zero=true`, or parked by us."""
        return function.name in self._parks or self._scaler.policy(function).zero

    def busy(self, name: str) -> bool:
        """Whether a wake-up or a park of `name` is under way (the autoscaler keeps off)."""
        return name in self._wakes or self.must_hold(name)

    @contextlib.contextmanager
    def parking(self, name: str) -> Iterator[None]:
        """Hold calls to `name` while the body scales it to 0 (enter without awaiting
        anything after checking that no call is in flight)."""
        park = self._parks[name] = _Park()
        self._publish(add=name)
        try:
            yield
        except BaseException:
            park.failed = True
            if self._parks.get(name) is park:
                del self._parks[name]
            raise
        finally:
            park.ended_at = self._clock()
            park.done.set()
            self._publish(remove=name)

    def start(self) -> None:
        """With `shared`: follow the other workers' parks in the background."""
        if self.shared is not None and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_parked(), name="parked-functions")

    def _publish(self, add: str | None = None, remove: str | None = None) -> None:
        if self._parked is None:
            return
        if add is not None:
            self._published.add(add)
            self._parked.put(add, "", PARKED_ENTRY_SECONDS)
        if remove is not None:
            self._published.discard(remove)
            self._parked.remove(remove)

    async def _watch_parked(self) -> None:
        while True:
            try:
                self._follow_parked()
            except OSError as error:
                log.warning("cannot read the parked functions: %s", error)
            await asyncio.sleep(PARKED_POLL_SECONDS)

    def _follow_parked(self) -> None:
        """Mirror the parks another worker published (and end those it ended)."""
        assert self._parked is not None
        names = self._parked.entries().keys() - self._published
        for name in names - self._mirrored.keys():
            if name not in self._parks:
                self._parks[name] = self._mirrored[name] = _Park()
        for name in self._mirrored.keys() - names:
            park = self._mirrored.pop(name)
            park.ended_at = self._clock()
            park.done.set()

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
        if self._tasks is None:
            return None
        recent = self._recent.get(function.name)
        if recent is not None and self._clock() - recent[1] < RECENT_READY_SECONDS:
            address = recent[0]
            if await self._task_probe(address, function.upstream_port):
                return dataclasses.replace(function, upstream_host=address)
            self._recent.pop(function.name, None)
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
        tasks: list[asyncio.Task[Function] | asyncio.Task[None]] = [
            *self._wakes.values(),
            *self._holds.values(),
        ]
        if self._watcher is not None:
            tasks.append(self._watcher)
            self._watcher = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _wake(self, function: Function) -> Function:
        name = function.name
        started = self._clock()
        park = self._parks.get(name)
        # With several workers, the one holding the lock scales; the others wait.
        lock = FileLock(self.shared.wake_lock(name)) if self.shared is not None else None
        waking = lock is None or lock.try_acquire()
        try:
            async with asyncio.timeout(self._timeout):
                if park is not None:
                    await park.done.wait()
                    if not park.failed:
                        await self._until_drained(function)
                current = self._provider.lookup(name) or function
                wanted = (park is not None and not park.failed) or current.replicas <= 0
                # Taken before scaling, so that a new task failing at once is new here.
                watch = await self._watch(name)
                scaled = wanted and waking
                if scaled:
                    replicas = max(self._scaler.policy(current).min_replicas, 1)
                    await self._scaler.set_replicas(current, replicas, "scale from zero")
                ready = await self._until_ready(name, watch)
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
            if park is not None and self._parks.get(name) is park:
                del self._parks[name]
            if lock is not None:
                lock.release()
        seconds = self._clock() - started
        if not scaled:  # another worker woke it (it held the lock, or just let it go)
            return ready
        self._scaler.metrics.cold_start(function.metric_name, seconds)
        log.info("function %s: cold start took %.2fs", name, seconds)
        return ready

    async def _until_drained(self, function: Function) -> None:
        """Until the parked replicas have left DNS (or a few seconds have passed)."""
        host, port = function.upstream_host, function.upstream_port
        deadline = self._clock() + DRAIN_WAIT_SECONDS
        self._recent.pop(function.name, None)  # a parked replica: going away
        while self._clock() < deadline:
            self._resolver.forget(host, port)
            if not await self._resolver.addresses(host, port):
                return
            await asyncio.sleep(self._poll * DNS_EVERY)

    async def _hold(self, function: Function) -> Function:
        name = function.name
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                watch = await self._watch(name)
                if watch is None:
                    raise _CannotHold
                failure = self._recent_failure(name)
                if failure is not None and not watch.addresses:
                    raise ReplicaFailed(name, failure)
                ready = await self._until_ready(name, watch)
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

    def _remember_failure(self, name: str, message: str) -> None:
        self._failures[name] = (message, self._clock())
        if self._shared_failures is not None:
            try:
                self._shared_failures.put(name, message, FAILURE_MEMORY_SECONDS)
            except OSError as error:  # this worker still knows; the others learn alone
                log.warning("function %s: cannot share its failure: %s", name, error)

    def _recent_failure(self, name: str) -> str | None:
        """The message of a failure seen within FAILURE_MEMORY_SECONDS (by any worker)."""
        failure = self._failures.get(name)
        if failure is not None and self._clock() - failure[1] < FAILURE_MEMORY_SECONDS:
            return failure[0]
        if self._shared_failures is not None:
            entry = self._shared_failures.get(name)
            if entry is not None:
                return entry.value
        return None

    async def _watch(self, name: str) -> _TaskWatch | None:
        """The function's tasks now, to tell later failures from past ones (None: the
        provider cannot list them; an engine that does not answer now may later)."""
        if self._tasks is None:
            return None
        try:
            tasks = await self._tasks(name)
        except GatewayError as error:
            log.debug("function %s: cannot list its replicas: %s", name, error.message)
            return _TaskWatch(())
        return None if tasks is None else _TaskWatch(tasks)

    async def _list_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        assert self._tasks is not None
        try:
            return await self._tasks(name)
        except GatewayError as error:  # the engine did not answer: DNS may still
            log.debug("function %s: cannot list its replicas: %s", name, error.message)
            return None

    async def _until_ready(self, name: str, watch: _TaskWatch | None = None) -> Function:
        """Until a replica is ready: one DNS lists accepts a connection, or one the
        engine lists as running answers its health check (`ReplicaFailed` if one fails)."""
        addresses = watch.addresses if watch is not None else ()
        poll = 0
        while True:
            function = self._provider.lookup(name)
            if function is None:
                raise FunctionNotFound(name)
            port = function.upstream_port
            # At poll 0, the watch's own reading is fresh.
            if watch is not None and poll > 0 and poll % TASKS_EVERY == 0:
                tasks = await self._list_tasks(name)
                if tasks is not None:
                    failed = watch.new_failure(tasks)
                    if failed is not None:
                        message = _failure_message(name, failed)
                        self._remember_failure(name, message)
                        raise ReplicaFailed(name, message)
                    addresses = running_addresses(tasks)
            for address in addresses:
                if await self._task_probe(address, port):
                    self._recent[name] = (address, self._clock())
                    return dataclasses.replace(function, upstream_host=address)
            # DNS only while the engine names no started replica: a name with no healthy
            # task yet can take the resolver a long while to give up on (measured: the
            # first answer came 0.7 s after the watchdog listened).
            if not addresses and function.replicas > 0 and poll % DNS_EVERY == 0:
                host = function.upstream_host
                self._resolver.forget(host, port)
                for address in await self._resolver.addresses(host, port):
                    if await self._probe(address, port):
                        return function
            await asyncio.sleep(self._poll)
            poll += 1


def _failure_message(name: str, task: ReplicaTask) -> str:
    reason = task.error or "no reason given"
    return (
        f"function {name!r} has no running replicas: "
        f"a replica could not start ({task.state}: {reason})"
    )
