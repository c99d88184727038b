"""What `cpu` scaling reads: the millicores a function's replicas use, measured by each
replica's watchdog from its container's cgroup (`GET /_/cpu`, watchdog/fwatchdog/cgroup.py).

The gateway asks every running replica at its address on the functions network, as it
probes replicas while calls are held: that reaches a replica on any node of the swarm,
where the engine's container stats would reach only the gateway's own node's
(docs/scaling.md, "What each type measures"). Two answers of one replica give its
millicores in between, timed by the replica's own clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.providers.base import Function, ReplicaTask
from gateway.scaling.readiness import TaskLister

CPU_PATH = "/_/cpu"
FETCH_SECONDS = 0.5
"""How long one replica may take to answer before it counts as not measured."""
MAX_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class CpuSample:
    """A replica's container's CPU time used so far, and when (its monotonic clock)."""

    usage_usec: int
    at_usec: int


CpuFetch = Callable[[str, int], Awaitable["CpuSample | None"]]
"""One replica's `CpuSample` at (address, port), or None if it gave none."""


async def fetch_cpu(address: str, port: int, within: float = FETCH_SECONDS) -> CpuSample | None:
    """Ask the watchdog at `address:port` for its container's CPU time (`GET /_/cpu`)."""
    request = b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(address, port)
            try:
                writer.write(request % (CPU_PATH.encode(), address.encode()))
                answer = b""
                while len(answer) < MAX_ANSWER_BYTES:
                    chunk = await reader.read(MAX_ANSWER_BYTES - len(answer))
                    if not chunk:
                        break
                    answer += chunk
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return None
    return parse_cpu_answer(answer)


def parse_cpu_answer(answer: bytes) -> CpuSample | None:
    """The sample in a whole HTTP answer to `GET /_/cpu`: `200`, body `<usage> <time>`."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    numbers = body.split()
    if len(status) < 2 or status[1] != b"200" or len(numbers) != 2:
        return None
    if not all(number.isascii() and number.isdigit() for number in numbers):
        return None
    return CpuSample(int(numbers[0]), int(numbers[1]))


class CpuMeter:
    """Millicores each `cpu`-scaled function's replicas used since the autoscaler's last
    pass, summed over its running replicas."""

    def __init__(self, tasks: TaskLister, fetch: CpuFetch = fetch_cpu) -> None:
        self._tasks = tasks
        self._fetch = fetch
        self._last: dict[str, dict[str, CpuSample]] = {}  # function → task id → sample

    async def millicores(self, function: Function) -> float | None:
        """The function's millicores since the last call for it; None when not measured
        (no earlier answer from any replica, no replica, or no task list)."""
        try:
            tasks = await self._tasks(function.name)
        except GatewayError:
            tasks = None
        running = [task for task in tasks or () if task.running and task.address]
        if not running:
            self._last.pop(function.name, None)
            return None
        samples = await asyncio.gather(
            *(self._fetch(str(task.address), function.upstream_port) for task in running)
        )
        return self._rate(function.name, running, samples)

    def _rate(
        self, name: str, running: Sequence[ReplicaTask], samples: Sequence[CpuSample | None]
    ) -> float | None:
        before = self._last.get(name, {})
        now = {
            task.id: sample
            for task, sample in zip(running, samples, strict=True)
            if sample is not None
        }
        self._last[name] = now
        rates = []
        for task_id, sample in now.items():
            last = before.get(task_id)
            if last and sample.at_usec > last.at_usec and sample.usage_usec >= last.usage_usec:
                cores = (sample.usage_usec - last.usage_usec) / (sample.at_usec - last.at_usec)
                rates.append(cores * 1000)
        if not rates:
            return None
        # A replica not measured yet (just started, or slow to answer) counts as the mean.
        return sum(rates) / len(rates) * len(running)

    def forget_others(self, names: Collection[str]) -> None:
        """Drop what is remembered of functions not in `names`."""
        for name in self._last.keys() - set(names):
            del self._last[name]
