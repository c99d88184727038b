"""Scale from zero: hold calls to a function at 0 replicas until a replica is ready.

The first call to a sleeping function starts one wake-up (scale to its `min`, then wait
until a replica resolves and accepts a connection); every call that arrives meanwhile
waits on that same wake-up. The wait is bounded (`GATEWAY_SCALE_FROM_ZERO_TIMEOUT`):
past it, every held call gets 503 with a message that says so.

Scale to zero goes through `parking`: while the autoscaler's scale-to-0 is in flight,
and until the provider's view shows 0 (or a wake-up ends it), `must_hold` tells the proxy
to hold new calls here instead of sending them to a replica that is going away. A wake
after a park first lets the parked replicas leave DNS, so the held calls go to the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from gateway.errors import FunctionNotFound, GatewayError, NoReplicas
from gateway.providers.base import Function, FunctionView
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.scaler import Scaler

log = logging.getLogger("gateway.scaling")

Probe = Callable[[str, int], Awaitable[bool]]
"""Whether a replica at (address, port) is ready to take a call."""

# How long a finished park keeps holding calls while the provider's view still shows
# replicas (its re-read lags the engine by a moment); after that the view is trusted.
PARK_CONFIRM_SECONDS = 15.0
# After a park, how long a wake waits for the parked replicas to leave DNS.
DRAIN_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.2


class ColdStartFailed(NoReplicas):
    """A function at 0 replicas could not be woken in time (503, like `NoReplicas`)."""

    def __init__(self, name: str, message: str) -> None:
        GatewayError.__init__(self, message)
        self.name = name


@dataclass
class _Park:
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None
    failed: bool = False


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
    ) -> None:
        self._scaler = scaler
        self._provider = provider
        self._resolver = resolver
        self._timeout = timeout
        self._probe = probe
        self._clock = clock
        self._poll = poll_interval
        self._parks: dict[str, _Park] = {}
        self._wakes: dict[str, asyncio.Task[Function]] = {}

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

    async def wake(self, function: Function) -> Function:
        """Wait until `function` has a ready replica (starting one if needed) and return
        its current view; `ColdStartFailed` when that takes longer than the timeout."""
        name = function.name
        task = self._wakes.get(name)
        if task is None:
            task = asyncio.ensure_future(self._wake(function))
            self._wakes[name] = task

            def forget(done: asyncio.Task[Function]) -> None:
                if self._wakes.get(name) is done:
                    del self._wakes[name]
                if not done.cancelled():
                    done.exception()  # retrieved: waiters got it already

            task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel wake-ups under way (at shutdown)."""
        tasks = list(self._wakes.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _wake(self, function: Function) -> Function:
        name = function.name
        started = self._clock()
        park = self._parks.get(name)
        try:
            async with asyncio.timeout(self._timeout):
                if park is not None:
                    await park.done.wait()
                    if not park.failed:
                        await self._until_drained(function)
                current = self._provider.lookup(name) or function
                if (park is not None and not park.failed) or current.replicas <= 0:
                    replicas = max(self._scaler.policy(current).min_replicas, 1)
                    await self._scaler.set_replicas(current, replicas, "scale from zero")
                ready = await self._until_ready(name)
        except TimeoutError:
            raise ColdStartFailed(
                name,
                f"function {name!r} has no running replicas and none became ready within "
                f"{self._timeout:g}s of scaling it from zero (GATEWAY_SCALE_FROM_ZERO_TIMEOUT)",
            ) from None
        except FunctionNotFound:
            raise
        except GatewayError as error:
            raise ColdStartFailed(
                name, f"function {name!r} has no running replicas: {error.message}"
            ) from None
        finally:
            if park is not None and self._parks.get(name) is park:
                del self._parks[name]
        seconds = self._clock() - started
        self._scaler.metrics.cold_start(name, seconds)
        log.info("function %s: cold start took %.2fs", name, seconds)
        return ready

    async def _until_drained(self, function: Function) -> None:
        """Until the parked replicas have left DNS (or a few seconds have passed)."""
        host, port = function.upstream_host, function.upstream_port
        deadline = self._clock() + DRAIN_WAIT_SECONDS
        while self._clock() < deadline:
            self._resolver.forget(host, port)
            if not await self._resolver.addresses(host, port):
                return
            await asyncio.sleep(self._poll)

    async def _until_ready(self, name: str) -> Function:
        """Until the view shows replicas and one of them accepts a connection."""
        while True:
            function = self._provider.lookup(name)
            if function is None:
                raise FunctionNotFound(name)
            if function.replicas > 0:
                host, port = function.upstream_host, function.upstream_port
                self._resolver.forget(host, port)
                for address in await self._resolver.addresses(host, port):
                    if await self._probe(address, port):
                        return function
            await asyncio.sleep(self._poll)
