"""Sync ticks claimed once, on a real nats-server: the first claim wins, for a while."""

from __future__ import annotations

import asyncio

import pytest

from gateway.async_calls.broker import Broker
from gateway.errors import BrokerUnavailable
from gateway.triggers.claims import TickClaims, claim_key
from tests.gateway.async_calls.harness import async_config
from tests.gateway.harness import BackgroundProcess


def test_a_claim_key_is_a_valid_kv_key_per_function_and_firing() -> None:
    key = claim_key("nightly", "faas-trigger/t/1796600000")
    assert len(key) == 64
    assert key.isalnum()
    assert key != claim_key("other", "faas-trigger/t/1796600000")


def test_only_the_first_of_two_schedulers_claims_a_tick(nats_server: BackgroundProcess) -> None:
    config = async_config(nats_server.port)

    async def scenario() -> list[bool]:
        brokers = [Broker(config, name=f"scheduler-{n}") for n in range(2)]
        claims = [TickClaims(broker) for broker in brokers]
        for broker in brokers:
            await broker.start()
        try:
            for broker in brokers:
                assert await broker.wait_ready(10)
            first = await asyncio.gather(*(c.claim("f", "faas-trigger/t/100") for c in claims))
            again = await claims[0].claim("f", "faas-trigger/t/100")
            next_tick = await claims[1].claim("f", "faas-trigger/t/101")
            return [*sorted(first), again, next_tick]
        finally:
            for broker in brokers:
                await broker.close()

    assert asyncio.run(scenario()) == [False, True, False, True]


def test_a_claim_without_a_broker_is_unavailable() -> None:
    claims = TickClaims(Broker(async_config(1), name="nowhere"))
    with pytest.raises(BrokerUnavailable, match="not connected"):
        asyncio.run(claims.claim("f", "k"))
