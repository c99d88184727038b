"""Waiting until a function has a ready replica: DNS, the engine's tasks, and probes.

Readiness does not wait for DNS: `tasks.<service>` lists a task only once its health
check has passed, and the engine's DNS answer is cached. While calls wait, the
provider's `replica_tasks` (on Swarm: the service's tasks and their overlay addresses) is
read every few polls and each running task's address is probed (`health_probe`) every
poll; the calls go to the first address that answers. A task that fails (or is
rejected, e.g. its image is missing) meanwhile ends the wait at once (`ReplicaFailed`),
and is remembered (`gateway.scaling.failures.FailureMemory`). DNS stays the source in
steady state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from gateway.errors import FunctionNotFound, GatewayError
from gateway.providers.base import Function, FunctionView, ReplicaTask
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.failures import FailureMemory, ReplicaFailed, failure_message
from gateway.scaling.probes import Probe

log = logging.getLogger("gateway.scaling")

TaskLister = Callable[[str], Awaitable["Sequence[ReplicaTask] | None"]]
"""The provider's `replica_tasks`: a function's replicas as the orchestrator has them."""

# After a park, how long a wake waits for the parked replicas to leave DNS.
DRAIN_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.025
# While calls are held: DNS is asked every this many polls, the engine's tasks every
# this many (each an engine call); the tasks' addresses are probed at every poll.
DNS_EVERY = 8
TASKS_EVERY = 4
# How long a replica a hold found ready takes the next held calls once it answers a
# probe, without asking the engine (DNS lists it within its health interval and TTL).
RECENT_READY_SECONDS = 1.0


class TaskWatch:
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


class Readiness:
    """Finds a function's ready replica, polling DNS, the engine's tasks and probes."""

    def __init__(
        self,
        provider: FunctionView,
        resolver: ReplicaResolver,
        failures: FailureMemory,
        *,
        probe: Probe,
        task_probe: Probe,
        tasks: TaskLister | None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = POLL_SECONDS,
    ) -> None:
        self._provider = provider
        self._resolver = resolver
        self._failures = failures
        self._probe = probe
        self._task_probe = task_probe
        self._tasks = tasks
        self._clock = clock
        self._poll = poll_interval
        # The replica a wait last found ready, and when: the next hold within
        # RECENT_READY_SECONDS goes there at once (DNS lists it a moment later).
        self._recent: dict[str, tuple[str, float]] = {}

    @property
    def lists_tasks(self) -> bool:
        """Whether the provider can list a function's replicas (else: nothing to wait for)."""
        return self._tasks is not None

    async def recently_ready(self, function: Function) -> Function | None:
        """`function` sent to the replica a wait found ready moments ago, if it still
        answers its probe."""
        recent = self._recent.get(function.name)
        if recent is None or self._clock() - recent[1] >= RECENT_READY_SECONDS:
            return None
        address = recent[0]
        if await self._task_probe(address, function.upstream_port):
            return dataclasses.replace(function, upstream_host=address)
        self._recent.pop(function.name, None)
        return None

    async def watch(self, name: str) -> TaskWatch | None:
        """The function's tasks now, to tell later failures from past ones (None: the
        provider cannot list them; an engine that does not answer now may later)."""
        if self._tasks is None:
            return None
        try:
            tasks = await self._tasks(name)
        except GatewayError as error:
            log.debug("function %s: cannot list its replicas: %s", name, error.message)
            return TaskWatch(())
        return None if tasks is None else TaskWatch(tasks)

    async def _list_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        assert self._tasks is not None
        try:
            return await self._tasks(name)
        except GatewayError as error:  # the engine did not answer: DNS may still
            log.debug("function %s: cannot list its replicas: %s", name, error.message)
            return None

    async def until_drained(self, function: Function) -> None:
        """Until the parked replicas have left DNS (or a few seconds have passed)."""
        host, port = function.upstream_host, function.upstream_port
        deadline = self._clock() + DRAIN_WAIT_SECONDS
        self._recent.pop(function.name, None)  # a parked replica: going away
        while self._clock() < deadline:
            self._resolver.forget(host, port)
            if not await self._resolver.addresses(host, port):
                return
            await asyncio.sleep(self._poll * DNS_EVERY)

    async def until_ready(self, name: str, watch: TaskWatch | None = None) -> Function:
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
                        message = failure_message(name, failed)
                        self._failures.remember(name, message)
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
