"""`SwarmLease` against the fake engine, which checks each write's version as the engine
does ("update out of sequence"): several gateways, one holder."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gateway.providers.swarm.discovery import SwarmProvider
from gateway.providers.swarm.lease import EXPIRES_LABEL, HOLDER_LABEL, SwarmLease
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs

GATEWAY = "func_gateway"
TERM = 6.0


class Clock:
    """Unix seconds, moved by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine() -> FakeDockerClient:
    engine = FakeDockerClient()
    engine.create_service(
        service_attrs(GATEWAY, labels={"com.faas.function": "false"}, stack="func")
    )
    return engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lease(engine: FakeDockerClient, clock: Clock, holder: str, **options: Any) -> SwarmLease:
    options.setdefault("service", GATEWAY)
    return SwarmLease(lambda: engine, term=TERM, holder=holder, clock=clock, **options)


def labels(engine: FakeDockerClient) -> dict[str, str]:
    return dict(engine.service(GATEWAY)["Spec"]["Labels"])


def test_two_leases_contend_and_one_wins(engine: FakeDockerClient, clock: Clock) -> None:
    first, second = lease(engine, clock, "a"), lease(engine, clock, "b")
    assert asyncio.run(first.hold())
    assert not asyncio.run(second.hold())
    assert labels(engine)[HOLDER_LABEL] == "a"
    assert labels(engine)[EXPIRES_LABEL] == str(int(clock.now + TERM))


def test_a_write_changes_the_labels_only(engine: FakeDockerClient, clock: Clock) -> None:
    before = engine.service(GATEWAY)
    assert asyncio.run(lease(engine, clock, "a").hold())
    after = engine.service(GATEWAY)
    assert after["Version"]["Index"] == before["Version"]["Index"] + 1
    del after["Spec"]["Labels"][HOLDER_LABEL], after["Spec"]["Labels"][EXPIRES_LABEL]
    assert after["Spec"] == before["Spec"]  # same task template: Swarm starts no task


def test_the_holder_renews_and_keeps_it(engine: FakeDockerClient, clock: Clock) -> None:
    first, second = lease(engine, clock, "a"), lease(engine, clock, "b")
    assert asyncio.run(first.hold())
    for _ in range(5):  # each pass well within the term renews it
        clock.now += TERM / 2
        assert asyncio.run(first.hold())
        assert not asyncio.run(second.hold())
    assert labels(engine)[EXPIRES_LABEL] == str(int(clock.now + TERM))


def test_an_expired_lease_is_taken_over(engine: FakeDockerClient, clock: Clock) -> None:
    first, second = lease(engine, clock, "a"), lease(engine, clock, "b")
    assert asyncio.run(first.hold())
    clock.now += TERM - 1
    assert not asyncio.run(second.hold())
    clock.now += 2  # the holder stopped renewing: past its expiry
    assert asyncio.run(second.hold())
    assert labels(engine)[HOLDER_LABEL] == "b"
    assert not asyncio.run(first.hold())  # the old holder stands by


def test_a_write_at_a_stale_version_loses(
    engine: FakeDockerClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = lease(engine, clock, "a"), lease(engine, clock, "b")
    inspect: Any = engine.api.inspect_service

    def first_writes_in_between(*args: Any, **kwargs: Any) -> Any:
        attrs = inspect(*args, **kwargs)
        monkeypatch.setattr(engine.api, "inspect_service", inspect)
        assert asyncio.run(first.hold())  # after `second` read the free lease
        return attrs

    monkeypatch.setattr(engine.api, "inspect_service", first_writes_in_between)
    assert not asyncio.run(second.hold())
    assert [holder for _, _, fields in engine.api_updates
            for holder in [fields["labels"][HOLDER_LABEL]]] == ["a", "b"]  # fmt: skip
    assert labels(engine)[HOLDER_LABEL] == "a"  # the engine refused b's stale write


def test_release_lets_another_take_over_at_once(engine: FakeDockerClient, clock: Clock) -> None:
    first, second = lease(engine, clock, "a"), lease(engine, clock, "b")
    assert asyncio.run(first.hold())
    asyncio.run(first.release())
    assert HOLDER_LABEL not in labels(engine)
    assert EXPIRES_LABEL not in labels(engine)
    assert asyncio.run(second.hold())
    asyncio.run(first.release())  # no longer the holder: leaves b's lease alone
    assert labels(engine)[HOLDER_LABEL] == "b"


def test_the_gateway_finds_its_own_service(engine: FakeDockerClient, clock: Clock) -> None:
    service_id = engine.service(GATEWAY)["ID"]
    engine.create_container("4f1e2d3c4b5a" + "0" * 52, {"com.docker.swarm.service.id": service_id})
    own = lease(engine, clock, "a", service=None, hostname="4f1e2d3c4b5a")
    assert asyncio.run(own.hold())
    assert labels(engine)[HOLDER_LABEL] == "a"


def test_outside_swarm_the_workers_lock_decides_alone(
    engine: FakeDockerClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    alone = lease(engine, clock, "a", service=None, hostname="laptop")
    with caplog.at_level(logging.INFO, logger="gateway.swarm.lease"):
        assert [asyncio.run(alone.hold()) for _ in range(3)] == [True] * 3
    assert len([r for r in caplog.records if "alone" in r.getMessage()]) == 1
    assert engine.api_updates == []


def test_a_missing_lease_service_is_looked_up_again(engine: FakeDockerClient, clock: Clock) -> None:
    named = lease(engine, clock, "a", service="func_other")
    assert asyncio.run(named.hold())  # not found: the workers' lock alone, for now
    engine.create_service(service_attrs("func_other", labels={"com.faas.function": "false"}))
    assert asyncio.run(named.hold())
    assert engine.service("func_other")["Spec"]["Labels"][HOLDER_LABEL] == "a"


def test_an_unreachable_engine_means_not_held(engine: FakeDockerClient, clock: Clock) -> None:
    first = lease(engine, clock, "a")
    assert asyncio.run(first.hold())
    engine.go_down()
    assert not asyncio.run(first.hold())
    engine.come_back()
    assert asyncio.run(first.hold())


def test_the_provider_makes_leases_on_its_engine(engine: FakeDockerClient) -> None:
    provider = SwarmProvider(client=engine)
    first, second = provider.lease(TERM, GATEWAY), provider.lease(TERM, GATEWAY)
    assert first.holder != second.holder  # one id per lease, so per process start
    assert asyncio.run(first.hold())
    assert not asyncio.run(second.hold())


def test_a_lease_with_its_own_labels_contends_apart(engine: FakeDockerClient, clock: Clock) -> None:
    own = ("com.faas.triggers.holder", "com.faas.triggers.expires")
    autoscaler, triggers = lease(engine, clock, "a"), lease(engine, clock, "b", labels=own)
    assert asyncio.run(autoscaler.hold())
    assert asyncio.run(triggers.hold())  # another lease: both are held
    assert not asyncio.run(lease(engine, clock, "c", labels=own).hold())
    assert (labels(engine)[HOLDER_LABEL], labels(engine)[own[0]]) == ("a", "b")
    asyncio.run(triggers.release())
    assert own[0] not in labels(engine)
    assert labels(engine)[HOLDER_LABEL] == "a"
