"""`FiringQueue`: a tick's firings prepared ahead (records written) are only published at
their moment, each stored once whoever queues it; a refused one leaves no record."""

from __future__ import annotations

import asyncio

from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import call_id_for
from gateway.config import AsyncConfig
from gateway.errors import GatewayError, TooManyRequests
from gateway.triggers.annotations import parse_triggers
from gateway.triggers.firing import Firing, FiringQueue, firing_call, tick_firing
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess

TICK = 1_772_366_400.0


def firings(count: int, tick: float = TICK) -> list[Firing]:
    trigger = parse_triggers({"com.faas.trigger.t.schedule": "* * * * * *"})[0][0]
    return [tick_firing(f"f{n}", trigger, tick) for n in range(count)]


def test_prepared_firings_have_their_records_before_they_are_queued(
    nats_server: BackgroundProcess,
) -> None:
    async def scenario() -> tuple[int, int, list[str | GatewayError], int]:
        async with connected_broker(async_config(nats_server.port)) as broker:
            queue = FiringQueue(broker, async_config(nats_server.port))
            tick = firings(5)
            await queue.prepare(tick)
            ids = [call_id_for(f.function, f.key) for f in tick]
            before = [await broker.statuses.get(call_id) for call_id in ids]
            queued_before = sum((await broker.queue.pending()).values())
            outcomes = await queue.queue(tick)
            return sum(r is not None for r in before), queued_before, outcomes, queue.prepared

    recorded, queued_before, outcomes, left = asyncio.run(scenario())
    assert recorded == 5
    assert queued_before == 0
    assert outcomes == [call_id_for(f.function, f.key) for f in firings(5)]
    assert left == 0


def test_a_tick_prepared_by_a_leader_that_died_is_queued_once_by_the_next(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port)

    async def scenario() -> tuple[list[str | GatewayError], list[str | GatewayError], int]:
        async with connected_broker(config) as broker:
            await FiringQueue(broker, config).prepare(firings(3))  # then it died
            successor = FiringQueue(broker, config)
            first = await successor.queue(firings(3))
            again = await successor.queue(firings(3))  # and a third scheduler, say
            return first, again, sum((await broker.queue.pending()).values())

    first, again, stored = asyncio.run(scenario())
    assert first == again == [call_id_for(f.function, f.key) for f in firings(3)]
    assert stored == 3


def test_a_prepared_firing_the_queue_refuses_leaves_no_record(
    nats_server: BackgroundProcess,
) -> None:
    config = async_config(nats_server.port, function_max_calls=1)

    async def scenario(broker: Broker, config: AsyncConfig) -> tuple[object, object, object]:
        queue = FiringQueue(broker, config)
        earlier, later = firings(1, TICK)[0], firings(1, TICK + 1)[0]
        await queue.queue([earlier])  # f0 holds its one queued call
        await queue.prepare([later])
        outcome = (await queue.queue([later]))[0]
        record = await broker.statuses.get(firing_call(later).call_id)
        kept = await broker.statuses.get(firing_call(earlier).call_id)
        return outcome, record, kept

    async def run() -> tuple[object, object, object]:
        async with connected_broker(config) as broker:
            return await scenario(broker, config)

    outcome, record, kept = asyncio.run(run())
    assert isinstance(outcome, TooManyRequests)
    assert record is None
    assert kept is not None


def test_a_ticks_call_counts_as_started_at_its_moment() -> None:
    call = firing_call(firings(1)[0])
    assert call.started_at == TICK
    assert ("X-Start-Time", str(int(TICK * 1e9))) in call.headers
