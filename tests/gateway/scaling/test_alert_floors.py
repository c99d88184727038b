"""Alert floors shared by every worker (a `SharedTable`) and every gateway container
(their load reports): the latest webhook wins, a resolved one ends the floor everywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.api_types.answers import AlertFloor
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.alert_floors import ALERT_FLOOR_SECONDS, AlertFloors, latest_floors
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.scaler import Scaler
from gateway.shared import SharedTable
from tests.gateway.scaling.test_autoscaler import (
    FakeClock,
    FakeDNS,
    FakeMetrics,
    FakeProvider,
    function,
    ticks,
)

LABELS = {"com.faas.scale.min": "1", "com.faas.scale.max": "10", "com.faas.scale.factor": "30",
          "com.faas.scale.cooldown": "10s"}  # fmt: skip


class WallClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def shared_floors(folder: Path, clock: WallClock) -> AlertFloors:
    return AlertFloors(SharedTable(folder / "alerts", recheck=0.0, clock=clock), clock=clock)


def test_a_floor_one_worker_learns_every_worker_reads(tmp_path: Path) -> None:
    clock = WallClock()
    receiver, decider = shared_floors(tmp_path, clock), shared_floors(tmp_path, clock)
    receiver.firing("f", 4)
    assert decider.known() == {"f": AlertFloor(replicas=4, at=clock.now)}
    clock.now += 5
    receiver.resolved("f")
    assert latest_floors([decider.known()]) == {}


def test_a_firing_alert_repeated_is_refreshed_and_one_never_repeated_expires(
    tmp_path: Path,
) -> None:
    clock = WallClock()
    floors = shared_floors(tmp_path, clock)
    floors.firing("f", 4)
    clock.now += ALERT_FLOOR_SECONDS * 0.9
    floors.firing("f", 4)  # Alertmanager's repeat: the same floor, a new time
    clock.now += ALERT_FLOOR_SECONDS * 0.9
    assert latest_floors([floors.known()]) == {"f": 4}
    clock.now += ALERT_FLOOR_SECONDS * 0.2
    assert floors.known() == {}


def test_in_memory_floors_expire_too() -> None:
    clock = WallClock()
    floors = AlertFloors(clock=clock)
    floors.firing("f", 2)
    assert latest_floors([floors.known()]) == {"f": 2}
    clock.now += ALERT_FLOOR_SECONDS
    assert floors.known() == {}


def test_a_garbled_entry_is_no_floor(tmp_path: Path) -> None:
    clock = WallClock()
    table = SharedTable(tmp_path / "alerts", recheck=0.0, clock=clock)
    table.put("f", "many", 60)
    table.put("g", "3 soon", 60)
    table.put("h", "3 1800000000.0", 60)
    assert AlertFloors(table, clock=clock).known() == {
        "h": AlertFloor(replicas=3, at=1_800_000_000.0)
    }


def test_across_containers_the_latest_webhook_wins() -> None:
    firing_in_a = {"f": AlertFloor(replicas=5, at=100.0), "g": AlertFloor(replicas=3, at=100.0)}
    resolved_in_b = {"f": AlertFloor(replicas=0, at=200.0)}
    fired_again_in_c = {"g": AlertFloor(replicas=4, at=50.0)}
    assert latest_floors([firing_in_a, resolved_in_b, fired_again_in_c]) == {"g": 3}
    assert latest_floors([resolved_in_b, {"f": AlertFloor(replicas=6, at=300.0)}]) == {"f": 6}


def worker(provider: FakeProvider, floors: AlertFloors) -> tuple[Autoscaler, FakeClock]:
    """One worker's autoscaler over the container's provider, with `floors`."""
    clock = FakeClock()
    scaler = Scaler(provider, FakeMetrics())
    resolver = ReplicaResolver(60.0, resolve=FakeDNS(provider).resolve)

    async def probe(address: str, port: int) -> bool:
        return True

    cold_start = ColdStart(scaler, provider, resolver, timeout=5.0, probe=probe, clock=clock)
    return Autoscaler(
        provider, scaler, FakeMetrics(), cold_start, clock=clock, floors=floors
    ), clock


def test_the_decider_keeps_a_floor_another_worker_received(tmp_path: Path) -> None:
    provider = FakeProvider([function("f", 1, LABELS)])
    clock = WallClock()
    receiver, _ = worker(provider, shared_floors(tmp_path, clock))
    decider, monotonic = worker(provider, shared_floors(tmp_path, clock))

    async def scenario() -> list[int]:
        seen = []
        await receiver.alert(provider.lookup("f"), firing=True)  # type: ignore[arg-type]
        seen.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        await ticks(decider, monotonic, 60)  # idle, past the cooldown: the floor holds
        seen.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        clock.now += 1
        await receiver.alert(provider.lookup("f"), firing=False)  # type: ignore[arg-type]
        seen.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        return seen

    assert asyncio.run(scenario()) == [4, 4, 1]
