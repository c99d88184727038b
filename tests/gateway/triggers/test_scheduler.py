"""`CronScheduler` against a real nats-server: each tick stored once, whoever fires it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import call_id_for
from gateway.async_calls.messages import CallStatus
from gateway.config import AsyncConfig
from gateway.errors import BrokerUnavailable
from gateway.providers.base import Function
from gateway.triggers.firing import Firing, FiringQueue, queue_firing, tick_key
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.scheduler import PREPARE_AHEAD, CronScheduler, FireMany
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess

T = TypeVar("T")
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Lease:
    """A lease the test hands over."""

    def __init__(self, held: bool = True) -> None:
        self.held = held
        self.released = False

    async def hold(self) -> bool:
        return self.held

    async def release(self) -> None:
        self.released = True


def every_second(name: str = "tick") -> Function:
    return Function(name, "faas/tick", 1, f"tasks.{name}",
                    labels={"com.faas.trigger.t.schedule": "* * * * * *"})  # fmt: skip


def per_minute(catch_up: bool) -> Function:
    labels = {"com.faas.trigger.m.schedule": "* * * * *"}
    if catch_up:
        labels["com.faas.trigger.m.catch_up"] = "true"
    return Function("minutely", "faas/m", 1, "tasks.minutely", labels=labels)


def scheduler(
    functions: list[Function],
    fire: Callable[[Firing], Awaitable[object]],
    clock: Clock,
    lease: Lease | None = None,
    metrics: TriggerMetrics | None = None,
    grace: float = 30.0,
    fire_many: FireMany | None = None,
) -> CronScheduler:
    return CronScheduler(
        lambda: functions,
        fire,
        lease or Lease(),
        metrics or TriggerMetrics(),
        grace=grace,
        renew=0.0,  # the lease is asked on every step
        clock=clock,
        fire_many=fire_many,
    )


def with_broker(
    nats: BackgroundProcess, scenario: Callable[[Broker, AsyncConfig], Awaitable[T]]
) -> T:
    config = async_config(nats.port)

    async def run() -> T:
        async with connected_broker(config) as broker:
            return await scenario(broker, config)

    return asyncio.run(run())


async def stored(broker: Broker) -> int:
    return sum((await broker.queue.pending()).values())


def test_two_schedulers_racing_store_each_tick_once(nats_server: BackgroundProcess) -> None:
    async def scenario(broker: Broker, config: AsyncConfig) -> tuple[int, int]:
        clock = Clock(START + 0.2)
        metrics = TriggerMetrics()

        async def fire(firing: Firing) -> object:
            return await queue_firing(broker, config, firing)

        # A grace of half a second: on taking the lease each fires START+1 (and no more).
        first = scheduler([every_second()], fire, clock, metrics=metrics, grace=0.5)
        second = scheduler([every_second()], fire, clock, metrics=metrics, grace=0.5)
        for _ in range(5):  # both believe they lead: ticks START+1 .. START+5
            clock.now += 1
            await asyncio.gather(first.step(), second.step())
        fired = metrics.fired.labels("tick", "t")._value.get()
        return await stored(broker), int(fired)

    calls, fired = with_broker(nats_server, scenario)
    assert calls == 5  # every tick once
    assert fired == 10  # each scheduler queued each: JetStream kept one of each pair


def test_a_leader_dying_mid_tick_neither_drops_nor_doubles_it(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario(broker: Broker, config: AsyncConfig) -> tuple[int, set[str]]:
        clock = Clock(START + 0.5)

        async def fire(firing: Firing) -> object:
            return await queue_firing(broker, config, firing)

        async def dies_after_the_record(firing: Firing) -> object:
            # The old leader wrote the status record of tick START+2, then died before
            # the publish.
            call_id = call_id_for(firing.function, firing.key)
            await broker.statuses.create(
                CallStatus(callId=call_id, function="tick", state="queued")
            )
            raise asyncio.CancelledError

        old_lease, new_lease = Lease(True), Lease(False)
        old = scheduler([every_second()], fire, clock, old_lease, grace=1.0)
        clock.now = START + 1.5
        await old.step()  # fires START+1 fully
        old._fire = dies_after_the_record
        clock.now = START + 2.5
        with contextlib.suppress(asyncio.CancelledError):
            await old.step()
        # The new leader takes over 3 s later: START+2 .. START+5 within its grace.
        old_lease.held, new_lease.held = False, True
        new = scheduler([every_second()], fire, clock, new_lease, grace=4.0)
        clock.now = START + 5.5
        await new.step()
        ids = {call_id_for("tick", tick_key(new._entries[("tick", "t")].trigger, START + n))
               for n in range(1, 6)}  # fmt: skip
        found = set()
        for call_id in ids:
            if await broker.statuses.get(call_id) is not None:
                found.add(call_id)
        return await stored(broker), ids - found

    calls, missing = with_broker(nats_server, scenario)
    assert missing == set()
    assert calls == 5  # START+1 .. START+5, each once


def test_missed_ticks_are_skipped_unless_catch_up(nats_server: BackgroundProcess) -> None:
    async def scenario(broker: Broker, config: AsyncConfig) -> tuple[int, int, int]:
        async def fire(firing: Firing) -> object:
            return await queue_firing(broker, config, firing)

        clock = Clock(START + 100)  # the last tick (START+60) was missed 40 s ago
        await scheduler([per_minute(catch_up=False)], fire, clock).step()
        skipped = await stored(broker)
        await scheduler([per_minute(catch_up=True)], fire, clock).step()
        caught_up = await stored(broker)
        clock.now += 5  # a restart: the same last tick is not fired twice
        await scheduler([per_minute(catch_up=True)], fire, clock).step()
        return skipped, caught_up, await stored(broker)

    assert with_broker(nats_server, scenario) == (0, 1, 1)


def test_a_refused_firing_is_tried_again_while_within_the_grace() -> None:
    clock = Clock(START + 40)  # no tick within the grace when it takes the lease
    attempts: list[float] = []
    metrics = TriggerMetrics()

    async def fire(firing: Firing) -> object:
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise BrokerUnavailable("message broker unavailable: test")
        return "id"

    async def scenario() -> float:
        running = scheduler([per_minute(catch_up=False)], fire, clock, metrics=metrics)
        await running.step()
        clock.now = START + 60.2
        await running.step()  # the tick is refused
        clock.now = START + 61.2
        return await running.step()

    asyncio.run(scenario())
    assert attempts == [START + 60.2, START + 61.2]
    assert metrics.failed.labels("minutely", "m")._value.get() == 1
    assert metrics.fired.labels("minutely", "m")._value.get() == 1


def test_a_scheduler_without_the_lease_fires_nothing_and_releases_it_at_stop() -> None:
    fired: list[Firing] = []

    async def fire(firing: Firing) -> object:
        fired.append(firing)
        return "id"

    async def scenario() -> Lease:
        clock = Clock(START + 0.5)
        lease = Lease(False)
        standby = scheduler([every_second()], fire, clock, lease)
        for _ in range(3):
            clock.now += 1
            await standby.step()
        lease.held = True
        stop = asyncio.Event()
        stop.set()
        await standby.step()
        await standby.run(stop)
        return lease

    lease = asyncio.run(scenario())
    assert lease.released
    # On taking over it fired the ticks of its grace once each.
    assert sorted(int(f.key.rsplit("/", 1)[1]) for f in fired) == [
        int(START) + n for n in range(-26, 4)
    ]


def test_a_tick_woken_for_late_fires_and_a_stall_skips_all_but_the_grace() -> None:
    fired: list[int] = []

    async def fire(firing: Firing) -> object:
        fired.append(int(firing.key.rsplit("/", 1)[1]))
        return "id"

    async def scenario() -> None:
        clock = Clock(START + 0.5)
        running = scheduler([every_second()], fire, clock, grace=0.0)
        await running.step()  # takes the lease: no grace, nothing past
        clock.now = START + 1.3  # woken 0.3 s after the tick
        await running.step()
        clock.now = START + 60.5  # a stall of a minute: only the latest tick
        await running.step()

    asyncio.run(scenario())
    assert fired == [int(START) + 1, int(START) + 60]


def test_an_invalid_schedule_is_logged_once_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    bad = Function("bad", "faas/bad", 1, "tasks.bad",
                   labels={"com.faas.trigger.t.schedule": "61 * * * *"})  # fmt: skip
    fired: list[Firing] = []

    async def fire(firing: Firing) -> object:
        fired.append(firing)
        return "id"

    async def scenario() -> None:
        clock = Clock(START)
        running = scheduler([bad, every_second()], fire, clock, grace=0.0)
        for _ in range(3):
            clock.now += 1.0
            await running.step()

    asyncio.run(scenario())
    logged = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert logged == ["trigger left out: bad: com.faas.trigger.t.schedule='61 * * * *': "
                      "not a cron expression (Bad minute): 5 fields, minute hour "
                      "day-of-month month day-of-week, or 6 with seconds first"]  # fmt: skip
    assert {firing.function for firing in fired} == {"tick"}


def test_a_ticks_firings_go_as_one_batch_and_a_refused_one_is_fired_again() -> None:
    batches: list[list[str]] = []
    metrics = TriggerMetrics()

    async def fire(firing: Firing) -> object:
        raise AssertionError("with fire_many, no firing goes one by one")

    async def fire_many(firings: Sequence[Firing]) -> list[object]:
        batches.append(sorted(firing.function for firing in firings))
        refuse = len(batches) == 1
        return [
            BrokerUnavailable("test") if refuse and f.function == "b" else "id" for f in firings
        ]

    async def scenario() -> None:
        clock = Clock(START + 0.5)
        functions = [every_second(name) for name in ("a", "b", "c")]
        running = scheduler(functions, fire, clock, metrics=metrics, grace=0.5, fire_many=fire_many)
        for moment in (0.5, 1.01, 1.3, 2.01):  # takes the lease (nothing within its grace)
            clock.now = START + moment
            await running.step()

    asyncio.run(scenario())
    # START+1: one batch of the three, b refused; again at once; START+2: the three.
    assert batches == [["a", "b", "c"], ["b"], ["a", "b", "c"]]
    assert metrics.failed.labels("b", "t")._value.get() == 1
    assert metrics.fired.labels("b", "t")._value.get() == 2


def test_two_batching_schedulers_racing_store_each_tick_once(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario(broker: Broker, config: AsyncConfig) -> tuple[int, int, int]:
        clock = Clock(START + 0.2)
        metrics = TriggerMetrics()
        functions = [every_second(f"tick{n}") for n in range(20)]

        async def fire(firing: Firing) -> object:
            return await queue_firing(broker, config, firing)

        queues = [FiringQueue(broker, config), FiringQueue(broker, config)]
        first, second = (
            CronScheduler(lambda: functions, fire, Lease(), metrics, grace=0.5, renew=0.0,
                          clock=clock, fire_many=queue.queue, prepare=queue.prepare)
            for queue in queues
        )  # fmt: skip
        for _ in range(3):  # both believe they lead: ticks START+1 .. START+3
            clock.now += 1
            await asyncio.gather(first.step(), second.step())
        fired = sum(metrics.fired.labels(f"tick{n}", "t")._value.get() for n in range(20))
        statuses = [
            await broker.statuses.get(call_id_for(f"tick{n}", f"faas-trigger/t/{int(START) + s}"))
            for n in range(20)
            for s in (1, 2, 3)
        ]
        return await stored(broker), int(fired), sum(status is not None for status in statuses)

    calls, fired, recorded = with_broker(nats_server, scenario)
    assert calls == 60  # 20 functions, 3 ticks, each once
    assert fired == 120  # each scheduler queued each: JetStream kept one of each pair
    assert recorded == 60  # status by id for every fired call


def test_each_tick_is_prepared_once_ahead_of_its_moment() -> None:
    prepared: list[tuple[float, list[str]]] = []
    fired: list[list[str]] = []
    clock = Clock(START + 0.5)

    async def fire(firing: Firing) -> object:
        raise AssertionError("with fire_many, no firing goes one by one")

    async def fire_many(firings: Sequence[Firing]) -> list[object]:
        fired.append([firing.key for firing in firings])
        return ["id"] * len(firings)

    async def prepare(firings: Sequence[Firing]) -> None:
        prepared.append((clock.now, [firing.key for firing in firings]))

    async def scenario() -> list[float]:
        running = CronScheduler(
            lambda: [every_second("a"), every_second("b")], fire, Lease(), TriggerMetrics(),
            grace=0.0, renew=100.0, clock=clock, fire_many=fire_many, prepare=prepare,
        )  # fmt: skip
        waits = []
        for moment in (0.5, 0.7, 1.01, 1.5):
            clock.now = START + moment
            waits.append(await running.step())
        return waits

    waits = asyncio.run(scenario())

    def keys(second: int) -> list[str]:
        return [f"faas-trigger/t/{int(START) + second}"] * 2

    assert prepared == [(START + 0.5, keys(1)), (START + 1.01, keys(2))]
    assert fired == [keys(1)]
    assert waits[0] == pytest.approx(0.5)  # prepared: it wakes at the tick
    assert PREPARE_AHEAD >= 1.0  # so a per-second schedule is always prepared
