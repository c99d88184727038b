"""`cpu` scaling's measure (`gateway.scaling.cpu`): each replica's watchdog answers its
container's CPU time; two answers give millicores. Fake tasks and answers, fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.errors import OrchestratorError
from gateway.providers.base import Function, ReplicaTask
from gateway.scaling.cpu import CpuMeter, CpuSample, fetch_cpu, parse_cpu_answer
from tests.gateway.scaling.test_autoscaler import function, make

CPU_LABELS = {
    "com.faas.scale.type": "cpu",
    "com.faas.scale.target": "500",
    "com.faas.scale.min": "1",
}


class FakeReplicas:
    """Tasks of every function, and what each replica's watchdog answers (µs figures)."""

    def __init__(self) -> None:
        self.tasks: list[ReplicaTask] | None = []
        self.usage: dict[str, CpuSample | None] = {}
        self.error: Exception | None = None

    async def list(self, name: str) -> Sequence[ReplicaTask] | None:
        if self.error is not None:
            raise self.error
        return self.tasks

    async def fetch(self, address: str, port: int) -> CpuSample | None:
        return self.usage.get(address)

    def run(self, count: int) -> None:
        self.tasks = [ReplicaTask(f"t{i}", "running", f"10.0.0.{i}") for i in range(count)]

    def advance(self, seconds: float, millicores: dict[str, float]) -> None:
        """Each replica's clock moves `seconds`; those named used `millicores` meanwhile."""
        for address, sample in list(self.usage.items()):
            if sample is not None:
                used = millicores.get(address, 0.0) * seconds * 1000
                self.usage[address] = CpuSample(
                    sample.usage_usec + int(used), sample.at_usec + int(seconds * 1e6)
                )


def fn(replicas: int = 2) -> Function:
    return Function("f", "faas/x", replicas, "tasks.f", labels=CPU_LABELS)


@pytest.mark.parametrize(
    ("answer", "sample"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12 3456\n", CpuSample(12, 3456)),
        (b"HTTP/1.1 404 Not Found\r\n\r\nno cgroup\n", None),
        (b"HTTP/1.1 200 OK\r\n\r\n12\n", None),
        (b"HTTP/1.1 200 OK\r\n\r\n1\xc2\xb2 5\n", None),
        (b"", None),
    ],
)
def test_parses_the_watchdogs_answer(answer: bytes, sample: CpuSample | None) -> None:
    assert parse_cpu_answer(answer) == sample


def test_fetches_over_http_and_gives_up_on_silence() -> None:
    async def scenario() -> tuple[CpuSample | None, CpuSample | None]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            assert request.startswith(b"GET /_/cpu HTTP/1.1\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
            await writer.drain()
            writer.write(b"70 9000\n")  # the body in a second segment
            writer.close()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
        async with server, quiet:
            port = server.sockets[0].getsockname()[1]
            quiet_port = quiet.sockets[0].getsockname()[1]
            return (
                await fetch_cpu("127.0.0.1", port),
                await fetch_cpu("127.0.0.1", quiet_port, within=0.05),
            )

    assert asyncio.run(scenario()) == (CpuSample(70, 9000), None)


def test_millicores_from_two_answers_summed_over_replicas() -> None:
    replicas = FakeReplicas()
    replicas.run(2)
    replicas.usage = {"10.0.0.0": CpuSample(0, 0), "10.0.0.1": CpuSample(5_000, 100)}
    meter = CpuMeter(replicas.list, replicas.fetch)

    async def scenario() -> list[float | None]:
        found = [await meter.millicores(fn())]  # one answer each: nothing to compare yet
        replicas.advance(2.0, {"10.0.0.0": 300.0, "10.0.0.1": 900.0})
        found.append(await meter.millicores(fn()))
        # A third replica has no earlier answer: it counts as the others' mean.
        replicas.run(3)
        replicas.usage["10.0.0.2"] = CpuSample(0, 0)
        replicas.advance(2.0, {"10.0.0.0": 100.0, "10.0.0.1": 100.0})
        found.append(await meter.millicores(fn(3)))
        # A replica that does not answer is left out of the mean, not counted as idle.
        replicas.usage["10.0.0.1"] = None
        replicas.advance(2.0, {"10.0.0.0": 200.0, "10.0.0.2": 400.0})
        found.append(await meter.millicores(fn(3)))
        return found

    found = asyncio.run(scenario())
    assert found[0] is None
    assert found[1:] == [pytest.approx(1200.0), pytest.approx(300.0), pytest.approx(900.0)]


def test_no_task_list_no_replica_or_an_engine_error_is_not_measured() -> None:
    replicas = FakeReplicas()
    meter = CpuMeter(replicas.list, replicas.fetch)

    async def scenario() -> list[float | None]:
        found = [await meter.millicores(fn())]  # no running replica
        replicas.tasks = None  # a provider that cannot list tasks
        found.append(await meter.millicores(fn()))
        replicas.error = OrchestratorError("engine away")
        found.append(await meter.millicores(fn()))
        return found

    assert asyncio.run(scenario()) == [None, None, None]


def test_the_autoscaler_scales_cpu_functions_on_measured_millicores() -> None:
    replicas = FakeReplicas()
    replicas.run(1)
    replicas.usage = {"10.0.0.0": CpuSample(0, 0)}
    meter = CpuMeter(replicas.list, replicas.fetch)
    autoscaler, provider, metrics, clock = make(function("f", 1, CPU_LABELS), cpu=meter)

    async def scenario() -> None:
        metrics.loads["f"] = (0, 40)  # calls in flight do not count for `cpu`
        await autoscaler.tick()
        replicas.advance(2.0, {"10.0.0.0": 1400.0})  # 1.4 cores, target 500m: 3
        clock.now += 2.0
        await autoscaler.tick()
        assert provider.calls == [("f", 3)]
        replicas.run(3)
        replicas.usage = {f"10.0.0.{i}": CpuSample(0, 0) for i in range(3)}
        for _ in range(30):  # no CPU used: back to min after the cooldown
            replicas.advance(2.0, {})
            clock.now += 2.0
            await autoscaler.tick()

    asyncio.run(scenario())
    assert provider.calls == [("f", 3), ("f", 1)]
