"""Readiness from the engine's tasks while calls are held: a new replica is reached before
DNS lists it, a replica that cannot start ends the wait at once, and a function that should
have replicas but has none ready holds its calls (`ColdStart.hold`).

DNS here lists nothing unless a test says so; the engine's tasks come from a script, and
the health probe answers for the addresses a test marks healthy. No timing is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.errors import ProviderUnavailable, status_code
from gateway.providers.base import Function, ReplicaTask
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.failures import ColdStartFailed, ReplicaFailed
from gateway.scaling.scaler import Scaler
from gateway.shared import SharedTable
from tests.gateway.scaling.test_autoscaler import (
    ZERO_LABELS,
    FakeMetrics,
    FakeProvider,
    function,
)


class Engine:
    """The provider's `replica_tasks`: each call returns the next scripted list (the last
    one repeats); `None` in the script is an engine that does not answer."""

    def __init__(self, *script: Sequence[ReplicaTask] | None) -> None:
        self.script = list(script)
        self.calls = 0
        self.asked_often = asyncio.Event()

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        self.calls += 1
        if self.calls >= 5:
            self.asked_often.set()
        tasks = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if tasks is None:
            raise ProviderUnavailable("cannot reach the Docker engine")
        return tasks


def make(
    fn: Function,
    engine: Engine | None,
    healthy: set[str],
    timeout: float = 5.0,
    failures: SharedTable | None = None,
) -> tuple[ColdStart, FakeProvider]:
    provider = FakeProvider([fn])
    dns_listed: tuple[str, ...] = ()

    async def resolve(host: str, port: int) -> tuple[str, ...]:
        return dns_listed

    async def tcp(address: str, port: int) -> bool:
        return True

    async def health(address: str, port: int) -> bool:
        return address in healthy

    cold_start = ColdStart(
        Scaler(provider, FakeMetrics()),
        provider,
        ReplicaResolver(60.0, resolve=resolve),
        timeout=timeout,
        probe=tcp,
        poll_interval=0.001,
        tasks=engine.replica_tasks if engine is not None else None,
        task_probe=health,
        failures=failures,
    )
    return cold_start, provider


def running(task_id: str, address: str) -> ReplicaTask:
    return ReplicaTask(task_id, "running", address)


def test_a_wake_reaches_the_new_replica_before_dns_lists_it() -> None:
    engine = Engine([], [ReplicaTask("t1", "starting")], [running("t1", "10.0.1.7")])
    cold_start, provider = make(function("z", 0, ZERO_LABELS), engine, {"10.0.1.7"})
    sleeping = provider.lookup("z")
    assert sleeping is not None

    async def scenario() -> list[Function]:
        return await asyncio.gather(*(cold_start.wake(sleeping) for _ in range(10)))

    woken = asyncio.run(scenario())
    assert provider.calls == [("z", 1)]
    assert {(f.upstream_host, f.replicas) for f in woken} == {("10.0.1.7", 1)}


def test_a_running_task_is_used_only_once_its_health_check_answers() -> None:
    healthy: set[str] = set()
    engine = Engine([], [running("t1", "10.0.1.7")])
    cold_start, provider = make(function("z", 0, ZERO_LABELS), engine, healthy)
    sleeping = provider.lookup("z")
    assert sleeping is not None

    async def scenario() -> Function:
        woken = asyncio.ensure_future(cold_start.wake(sleeping))
        await engine.asked_often.wait()
        assert not woken.done()  # running, but the watchdog does not answer yet
        healthy.add("10.0.1.7")
        return await woken

    assert asyncio.run(scenario()).upstream_host == "10.0.1.7"


@pytest.mark.parametrize(
    ("failed", "reason"),
    [
        (ReplicaTask("t1", "rejected", None, "No such image: faas/gone:1"), "No such image"),
        (ReplicaTask("t1", "failed", None, "task: non-zero exit (1)"), "non-zero exit (1)"),
    ],
)
def test_a_replica_that_cannot_start_releases_the_wake_at_once(
    failed: ReplicaTask, reason: str
) -> None:
    engine = Engine([], [ReplicaTask("t1", "starting")], [failed])
    # A timeout no test would wait for: only the failure can end this wait.
    cold_start, provider = make(function("z", 0, ZERO_LABELS), engine, set(), timeout=3600)
    sleeping = provider.lookup("z")
    assert sleeping is not None

    async def scenario() -> list[BaseException | Function]:
        return await asyncio.gather(
            *(cold_start.wake(sleeping) for _ in range(3)), return_exceptions=True
        )

    for result in asyncio.run(scenario()):
        assert isinstance(result, ReplicaFailed)
        assert status_code(result) == 503
        assert f"({failed.state}: " in result.message
        assert reason in result.message


def test_failures_from_before_the_wait_are_history() -> None:
    old = ReplicaTask("t0", "failed", None, "task: non-zero exit (1)")
    engine = Engine([old], [old, ReplicaTask("t1", "starting")], [old, running("t1", "10.0.1.8")])
    cold_start, provider = make(function("z", 0, ZERO_LABELS), engine, {"10.0.1.8"})
    sleeping = provider.lookup("z")
    assert sleeping is not None
    assert asyncio.run(cold_start.wake(sleeping)).upstream_host == "10.0.1.8"


def test_a_function_with_replicas_but_none_ready_holds_its_calls() -> None:
    # A stop-first update: the old task is gone, the new one is starting.
    engine = Engine(
        [ReplicaTask("old", "shutdown")],
        [ReplicaTask("old", "shutdown"), ReplicaTask("new", "starting")],
        [ReplicaTask("old", "shutdown"), running("new", "10.0.1.9")],
    )
    cold_start, provider = make(function("f", 1), engine, {"10.0.1.9"})
    current = provider.lookup("f")
    assert current is not None

    async def scenario() -> list[Function | None]:
        return await asyncio.gather(*(cold_start.hold(current) for _ in range(4)))

    held = asyncio.run(scenario())
    assert {f.upstream_host if f else None for f in held} == {"10.0.1.9"}
    assert provider.calls == []  # a hold never scales


def test_a_crash_looping_replica_releases_held_calls_with_its_error() -> None:
    engine = Engine(
        [ReplicaTask("t1", "running", "10.0.1.5")],
        [ReplicaTask("t1", "failed", "10.0.1.5", "task: non-zero exit (2)")],
    )
    cold_start, provider = make(function("f", 1), engine, set(), timeout=3600)
    current = provider.lookup("f")
    assert current is not None
    with pytest.raises(ReplicaFailed, match=r"a replica could not start \(failed: task: non-zero"):
        asyncio.run(cold_start.hold(current))


def test_while_it_crash_loops_the_next_calls_get_the_failure_at_once() -> None:
    failed = ReplicaTask("t1", "failed", None, "task: non-zero exit (2)")
    # After the failure, the next task waits out its restart delay: not running.
    engine = Engine([ReplicaTask("t1", "running", "10.0.1.5")], [failed],
                    [failed, ReplicaTask("t2", "ready")])  # fmt: skip
    cold_start, provider = make(function("f", 1), engine, set(), timeout=3600)
    current = provider.lookup("f")
    assert current is not None

    async def scenario() -> None:
        with pytest.raises(ReplicaFailed):
            await cold_start.hold(current)
        calls = engine.calls
        with pytest.raises(ReplicaFailed, match="non-zero exit"):
            await cold_start.hold(current)
        assert engine.calls == calls + 1  # one look: nothing runs, the failure is fresh

    asyncio.run(scenario())


def test_a_failure_one_worker_saw_answers_the_other_workers_holds_at_once(
    tmp_path: Path,
) -> None:
    """Two workers (two ColdStarts on one shared folder): the second does not wait out
    the restart to learn what the first saw."""
    failed = ReplicaTask("t1", "failed", None, "task: non-zero exit (2)")
    first_engine = Engine([ReplicaTask("t1", "running", "10.0.1.5")], [failed])
    second_engine = Engine([failed, ReplicaTask("t2", "ready")])
    workers = [
        make(function("f", 1), engine, set(), timeout=3600,
             failures=SharedTable(tmp_path / "failures", recheck=0.0))
        for engine in (first_engine, second_engine)
    ]  # fmt: skip

    async def scenario() -> None:
        first, provider = workers[0]
        current = provider.lookup("f")
        assert current is not None
        with pytest.raises(ReplicaFailed):
            await first.hold(current)
        second, provider = workers[1]
        current = provider.lookup("f")
        assert current is not None
        with pytest.raises(ReplicaFailed, match="non-zero exit"):
            await second.hold(current)
        assert second_engine.calls == 1  # one look: nothing runs, the failure is fresh

    asyncio.run(scenario())


def test_a_hold_times_out_with_a_503_naming_the_setting() -> None:
    cold_start, provider = make(function("f", 1), Engine([]), set(), timeout=0.05)
    current = provider.lookup("f")
    assert current is not None
    with pytest.raises(ColdStartFailed, match="GATEWAY_SCALE_FROM_ZERO_TIMEOUT") as caught:
        asyncio.run(cold_start.hold(current))
    assert status_code(caught.value) == 503


def test_an_engine_that_does_not_answer_leaves_the_wait_to_dns_and_the_timeout() -> None:
    cold_start, provider = make(function("f", 1), Engine(None), {"10.0.1.5"}, timeout=0.05)
    current = provider.lookup("f")
    assert current is not None
    with pytest.raises(ColdStartFailed):
        asyncio.run(cold_start.hold(current))


def test_without_tasks_from_the_provider_there_is_no_hold() -> None:
    cold_start, provider = make(function("f", 1), None, set())
    current = provider.lookup("f")
    assert current is not None
    assert asyncio.run(cold_start.hold(current)) is None


def test_a_provider_that_cannot_tell_its_tasks_does_not_hold() -> None:
    # The static provider's `replica_tasks` answers None: nothing to wait for.
    provider = FakeProvider([function("f", 1)])

    async def resolve(host: str, port: int) -> tuple[str, ...]:
        return ()

    async def probe(address: str, port: int) -> bool:
        return True

    cold_start = ColdStart(
        Scaler(provider, FakeMetrics()),
        provider,
        ReplicaResolver(60.0, resolve=resolve),
        timeout=3600,
        probe=probe,
        tasks=provider.replica_tasks,
    )
    current = provider.lookup("f")
    assert current is not None
    assert asyncio.run(cold_start.hold(current)) is None


def test_holds_right_after_one_go_to_the_replica_it_found_while_it_answers() -> None:
    # DNS lists the new replica only after its health check: until then, calls that
    # find no replica go where the last hold went, without asking the engine again.
    healthy = {"10.0.1.7"}
    engine = Engine([running("t1", "10.0.1.7")], [running("t2", "10.0.1.8")])
    cold_start, provider = make(function("f", 1), engine, healthy)
    current = provider.lookup("f")
    assert current is not None

    async def scenario() -> list[str]:
        found = [await cold_start.hold(current)]
        calls = engine.calls
        found.append(await cold_start.hold(current))
        assert engine.calls == calls
        healthy.clear()  # that replica is gone: the next hold looks again
        healthy.add("10.0.1.8")
        found.append(await cold_start.hold(current))
        assert engine.calls > calls
        return [f.upstream_host if f else "" for f in found]

    assert asyncio.run(scenario()) == ["10.0.1.7", "10.0.1.7", "10.0.1.8"]
