"""The autoscaler loop and the cold-start path, with a fake clock, provider and probe.

`tick()` is called by hand at fake times; cold starts poll a fake readiness probe. Nothing
asserts on how long anything took.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping

import pytest

from gateway.errors import NotSupported, OrchestratorError, status_code
from gateway.labels import PAUSED_LABEL
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.cpu import CpuMeter
from gateway.scaling.failures import ColdStartFailed
from gateway.scaling.peers import ClusterLoad
from gateway.scaling.scaler import Scaler

ZERO_LABELS = {"com.faas.scale.zero": "true", "com.faas.scale.zero_after": "60s"}
OWNED_LABELS = {"com.faas.scale.min": "1", "com.faas.scale.max": "4", "com.faas.scale.target": "5"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProvider(StaticProvider):
    """Scales its registry; records every call; can block or fail on demand."""

    def __init__(self, functions: list[Function]) -> None:
        super().__init__(functions)
        self.calls: list[tuple[str, int]] = []
        self.called = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def scale(self, name: str, replicas: int) -> None:
        self.calls.append((name, replicas))
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        function = self.registry.lookup(name)
        assert function is not None
        self.registry.upsert(dataclasses.replace(function, replicas=replicas))


class FakeMetrics:
    def __init__(self) -> None:
        self.loads: dict[str, tuple[int, int]] = {}
        self.events: list[tuple[str, str, int]] = []
        self.cold_starts: list[str] = []

    def load(self) -> Mapping[str, tuple[int, int]]:
        return dict(self.loads)

    def scale_event(self, function_name: str, direction: str, replicas: int) -> None:
        self.events.append((function_name, direction, replicas))

    def cold_start(self, function_name: str, seconds: float) -> None:
        self.cold_starts.append(function_name)


class FakeDNS:
    """`tasks.<name>` resolves to one address per replica the provider shows."""

    def __init__(self, provider: StaticProvider) -> None:
        self.provider = provider
        self.lookups = 0

    async def resolve(self, host: str, port: int) -> tuple[str, ...]:
        self.lookups += 1
        function = self.provider.lookup(host.removeprefix("tasks."))
        count = function.replicas if function else 0
        return tuple(f"10.0.0.{i + 1}" for i in range(count))


def make(
    *functions: Function,
    ready: bool = True,
    timeout: float = 5.0,
    queued: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
    cpu: CpuMeter | None = None,
    peers: ClusterLoad | None = None,
) -> tuple[Autoscaler, FakeProvider, FakeMetrics, FakeClock]:
    provider = FakeProvider(list(functions))
    metrics = FakeMetrics()
    clock = FakeClock()
    dns = FakeDNS(provider)

    async def probe(address: str, port: int) -> bool:
        return ready

    scaler = Scaler(provider, metrics)
    cold_start = ColdStart(
        scaler,
        provider,
        ReplicaResolver(60.0, resolve=dns.resolve),
        timeout=timeout,
        probe=probe,
        clock=clock,
        poll_interval=0.001,
    )
    autoscaler = Autoscaler(
        provider, scaler, metrics, cold_start, clock=clock, queued=queued, cpu=cpu, peers=peers
    )
    return autoscaler, provider, metrics, clock


def function(name: str, replicas: int, labels: Mapping[str, str] | None = None) -> Function:
    return Function(name, "faas/x", replicas, f"tasks.{name}", labels=dict(labels or {}))


async def ticks(autoscaler: Autoscaler, clock: FakeClock, seconds: float) -> None:
    for _ in range(int(seconds / 2)):
        await autoscaler.tick()
        clock.now += 2.0


def test_load_scales_up_then_back_down_through_the_provider() -> None:
    autoscaler, provider, metrics, clock = make(function("f", 1, OWNED_LABELS))

    async def scenario() -> None:
        metrics.loads["f"] = (100, 18)
        await ticks(autoscaler, clock, 10)
        assert provider.calls == [("f", 4)]
        metrics.loads["f"] = (150, 0)
        await ticks(autoscaler, clock, 60)

    asyncio.run(scenario())
    assert provider.calls == [("f", 4), ("f", 1)]
    assert metrics.events == [("f", "up", 4), ("f", "down", 1)]
    assert provider.lookup("f").replicas == 1  # type: ignore[union-attr]


def test_unlabelled_functions_only_get_back_what_was_added() -> None:
    autoscaler, provider, metrics, clock = make(function("f", 2), function("idle", 3))

    async def scenario() -> None:
        metrics.loads["f"] = (10, 30)  # 6 replicas' worth at target 5
        await ticks(autoscaler, clock, 4)
        metrics.loads["f"] = (10, 0)
        await ticks(autoscaler, clock, 100)

    asyncio.run(scenario())
    assert provider.calls == [("f", 6), ("f", 2)]


def test_a_provider_that_cannot_scale_turns_the_autoscaler_off() -> None:
    autoscaler, provider, metrics, clock = make(function("f", 1))
    provider.error = NotSupported("scale is not supported by the static provider")

    async def scenario() -> None:
        metrics.loads["f"] = (10, 50)
        await ticks(autoscaler, clock, 20)

    asyncio.run(scenario())
    assert provider.calls == [("f", 10)]
    assert not autoscaler.enabled


def test_a_failed_scale_is_retried_later_not_on_every_tick() -> None:
    autoscaler, provider, metrics, clock = make(function("f", 1))
    provider.error = OrchestratorError("the Docker engine failed: boom")

    async def scenario() -> None:
        metrics.loads["f"] = (10, 50)
        await ticks(autoscaler, clock, 21)

    asyncio.run(scenario())
    assert len(provider.calls) == 2  # at t=0 and after the 10s back-off
    assert metrics.events == []


def test_idle_zero_function_is_parked_and_never_while_a_call_is_in_flight() -> None:
    autoscaler, provider, metrics, clock = make(function("z", 1, ZERO_LABELS))

    async def scenario() -> None:
        await ticks(autoscaler, clock, 58)
        assert provider.calls == []
        metrics.loads["z"] = (0, 1)  # a call in flight (started before the autoscaler)
        await ticks(autoscaler, clock, 200)
        assert provider.calls == []
        metrics.loads["z"] = (0, 0)
        await ticks(autoscaler, clock, 70)

    asyncio.run(scenario())
    assert provider.calls == [("z", 0)]
    assert metrics.events == [("z", "down", 0)]


def test_concurrent_calls_share_one_scale_from_zero() -> None:
    autoscaler, provider, metrics, _ = make(
        function("z", 0, ZERO_LABELS | {"com.faas.scale.min": "2"})
    )
    cold_start = autoscaler.cold_start

    async def scenario() -> list[Function]:
        sleeping = provider.lookup("z")
        assert sleeping is not None
        assert cold_start.can_wake(sleeping)
        return await asyncio.gather(*(cold_start.wake(sleeping) for _ in range(20)))

    woken = asyncio.run(scenario())
    assert provider.calls == [("z", 2)]
    assert {f.replicas for f in woken} == {2}
    assert metrics.cold_starts == ["z"]
    assert metrics.events == [("z", "up", 2)]


def test_every_function_at_zero_wakes_unless_switched_off() -> None:
    autoscaler, provider, _, _ = make(
        function("plain", 0), function("off", 0, {PAUSED_LABEL: "true"})
    )
    plain, off = provider.lookup("plain"), provider.lookup("off")
    assert plain is not None
    assert off is not None
    assert autoscaler.cold_start.can_wake(plain)
    assert not autoscaler.cold_start.can_wake(off)


def test_a_cold_start_that_never_gets_ready_fails_with_a_clear_503() -> None:
    autoscaler, provider, metrics, _ = make(function("z", 0, ZERO_LABELS), ready=False, timeout=0.2)

    async def scenario() -> None:
        sleeping = provider.lookup("z")
        assert sleeping is not None
        results = await asyncio.gather(
            *(autoscaler.cold_start.wake(sleeping) for _ in range(3)), return_exceptions=True
        )
        for result in results:
            assert isinstance(result, ColdStartFailed)
            assert status_code(result) == 503
            assert "none became ready within 0.2s" in result.message
            assert "GATEWAY_SCALE_FROM_ZERO_TIMEOUT" in result.message

    asyncio.run(scenario())
    assert provider.calls == [("z", 1)]
    assert metrics.cold_starts == []


def test_a_failed_scale_from_zero_is_a_503_naming_the_reason() -> None:
    autoscaler, provider, _, _ = make(function("z", 0, ZERO_LABELS))
    provider.error = OrchestratorError("the Docker engine failed: no space left")

    async def scenario() -> None:
        sleeping = provider.lookup("z")
        assert sleeping is not None
        with pytest.raises(ColdStartFailed, match="no space left"):
            await autoscaler.cold_start.wake(sleeping)

    asyncio.run(scenario())


def test_a_call_arriving_during_a_park_is_held_and_wakes_the_function() -> None:
    autoscaler, provider, metrics, clock = make(function("z", 1, ZERO_LABELS))
    cold_start = autoscaler.cold_start

    async def scenario() -> Function:
        provider.gate = asyncio.Event()
        clock.now += 120  # idle past zero_after
        await autoscaler.tick()  # first sight: starts the idle clock
        clock.now += 120
        park = asyncio.ensure_future(autoscaler.tick())
        await provider.called.wait()
        # scale(0) is under way; the view still shows 1 replica: the call must be held.
        assert cold_start.must_hold("z")
        assert cold_start.busy("z")
        current = provider.lookup("z")
        assert current is not None
        assert current.replicas == 1
        held = asyncio.ensure_future(cold_start.wake(current))
        await asyncio.sleep(0.01)
        assert not held.done()
        provider.gate.set()
        provider.gate = None
        await park
        return await held

    woken = asyncio.run(scenario())
    assert provider.calls == [("z", 0), ("z", 1)]
    assert woken.replicas == 1
    assert not cold_start.must_hold("z")
    assert [event[1] for event in metrics.events] == ["down", "up"]


def test_a_park_that_fails_releases_held_calls_to_the_running_replica() -> None:
    autoscaler, provider, _, clock = make(function("z", 1, ZERO_LABELS))
    cold_start = autoscaler.cold_start

    async def scenario() -> Function:
        provider.gate = asyncio.Event()
        provider.error = OrchestratorError("refused")
        await autoscaler.tick()
        clock.now += 120
        park = asyncio.ensure_future(autoscaler.tick())
        await provider.called.wait()
        current = provider.lookup("z")
        assert current is not None
        held = asyncio.ensure_future(cold_start.wake(current))
        await asyncio.sleep(0)
        provider.gate.set()
        await park
        return await held

    woken = asyncio.run(scenario())
    assert provider.calls == [("z", 0)]  # no scale-up: the replica never left
    assert woken.replicas == 1
    assert not cold_start.must_hold("z")


def test_alerts_scale_up_by_the_factor_and_back_to_min() -> None:
    labels = {"com.faas.scale.min": "2", "com.faas.scale.max": "10", "com.faas.scale.factor": "30"}
    autoscaler, provider, metrics, clock = make(function("f", 2, labels))

    async def scenario() -> list[int]:
        replicas = []
        for firing in (True, True, True, True):
            current = provider.lookup("f")
            assert current is not None
            replicas.append(await autoscaler.alert(current, firing=firing))
        await ticks(autoscaler, clock, 100)  # idle, but the firing alert holds the floor
        replicas.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        current = provider.lookup("f")
        assert current is not None
        replicas.append(await autoscaler.alert(current, firing=False))
        return replicas

    assert asyncio.run(scenario()) == [5, 8, 10, 10, 10, 2]
    assert [event[2] for event in metrics.events] == [5, 8, 10, 2]


def test_a_function_with_bad_labels_does_not_stop_the_others_scaling() -> None:
    # Issue 15, item 6: `"²".isdigit()` is true and `int("²")` raised, on every pass.
    bad = {"com.faas.scale.min": "²", "com.faas.scale.max": "9" * 5000}
    autoscaler, provider, metrics, clock = make(function("a-bad", 1, bad), function("b", 1))

    async def scenario() -> None:
        metrics.loads["a-bad"] = (10, 15)
        metrics.loads["b"] = (10, 15)
        await ticks(autoscaler, clock, 4)

    asyncio.run(scenario())
    assert provider.calls == [("a-bad", 3), ("b", 3)]


class FakeQueue:
    """Async calls not yet finished per function, as the broker would report them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.error: Exception | None = None
        self.hangs = False
        self.reads = 0

    async def __call__(self) -> Mapping[str, int]:
        self.reads += 1
        if self.hangs:
            await asyncio.sleep(3600)  # connected, but it never answers
        if self.error is not None:
            raise self.error
        return dict(self.counts)


def test_queued_async_calls_alone_scale_a_function_up() -> None:
    queue = FakeQueue()
    autoscaler, provider, _, clock = make(function("f", 1, OWNED_LABELS), queued=queue)

    async def scenario() -> None:
        queue.counts["f"] = 12  # target 5 per replica: 3 replicas
        await ticks(autoscaler, clock, 4)

    asyncio.run(scenario())
    assert provider.calls == [("f", 3)]
    assert queue.reads == 2  # once per tick


def test_queued_calls_add_to_the_calls_in_flight() -> None:
    queue = FakeQueue()
    autoscaler, provider, metrics, clock = make(function("f", 1, OWNED_LABELS), queued=queue)

    async def scenario() -> None:
        metrics.loads["f"] = (10, 8)
        queue.counts["f"] = 8  # 16 in all: 4 replicas (its max)
        await ticks(autoscaler, clock, 2)

    asyncio.run(scenario())
    assert provider.calls == [("f", 4)]


def test_a_function_with_queued_calls_is_not_scaled_to_zero() -> None:
    queue = FakeQueue()
    autoscaler, provider, _, clock = make(function("z", 1, ZERO_LABELS), queued=queue)

    async def scenario() -> None:
        queue.counts["z"] = 1
        await ticks(autoscaler, clock, 200)
        assert provider.calls == []
        queue.counts.clear()
        await ticks(autoscaler, clock, 70)

    asyncio.run(scenario())
    assert provider.calls == [("z", 0)]


def test_an_unreadable_queue_counts_as_empty() -> None:
    queue = FakeQueue()
    queue.error = ConnectionError("broker away")
    autoscaler, provider, metrics, clock = make(function("f", 1, OWNED_LABELS), queued=queue)

    async def scenario() -> None:
        metrics.loads["f"] = (10, 10)
        await ticks(autoscaler, clock, 2)

    asyncio.run(scenario())
    assert provider.calls == [("f", 2)]


def test_a_queue_that_does_not_answer_delays_a_pass_by_half_an_interval_at_most(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FakeQueue()
    queue.hangs = True
    autoscaler, provider, metrics, clock = make(function("f", 1, OWNED_LABELS), queued=queue)
    autoscaler._interval = 0.2  # the bound: 0.1 s of waiting for the queue per pass

    async def scenario() -> None:
        metrics.loads["f"] = (10, 10)
        await ticks(autoscaler, clock, 6)  # 3 passes

    asyncio.run(scenario())
    assert provider.calls == [("f", 2)]  # scaled on the sync calls all the same
    assert queue.reads == 3
    warnings = [r for r in caplog.records if "queue depth unknown" in r.getMessage()]
    assert len(warnings) == 1  # once, not every pass


def test_each_pass_that_decides_reports_its_cpu_time() -> None:
    autoscaler, _, _, _ = make(*(function(f"f{i}", 1) for i in range(50)))
    autoscaler._interval = 0.001
    reported: list[float] = []

    async def scenario() -> None:
        three = asyncio.Event()

        def report(seconds: float) -> None:
            reported.append(seconds)
            if len(reported) == 3:
                three.set()

        autoscaler.report_pass = report
        autoscaler.start()
        await asyncio.wait_for(three.wait(), 30)
        await autoscaler.close()

    asyncio.run(scenario())
    assert all(seconds >= 0.0 for seconds in reported)


def test_a_pass_that_does_not_decide_reports_nothing() -> None:
    autoscaler, _, _, _ = make(function("f", 1), ready=True)
    autoscaler.enabled = True
    reported: list[float] = []
    autoscaler.report_pass = reported.append
    autoscaler.lease = _NeverLease()

    async def scenario() -> None:
        autoscaler._interval = 0.001
        autoscaler.start()
        await asyncio.sleep(0.05)
        await autoscaler.close()

    asyncio.run(scenario())
    assert reported == []


class _NeverLease:
    """A cluster lease another gateway always holds."""

    async def hold(self) -> bool:
        return False

    async def release(self) -> None:
        return None
