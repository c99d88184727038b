"""Scaling with several worker processes, in one process: each "worker" is its own
autoscaler or cold-start path, and they share only the files a real worker would share
(the leader lock, the parked list, the wake locks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.parked_file import SharedParking
from gateway.scaling.scaler import Scaler
from gateway.shared import FileLock, SharedTable
from tests.gateway.scaling.test_autoscaler import (
    OWNED_LABELS,
    ZERO_LABELS,
    FakeDNS,
    FakeMetrics,
    FakeProvider,
    function,
    make,
)


def shared_parking(folder: Path) -> SharedParking:
    return SharedParking(folder / "parked", lambda name: folder / f"wake-{name}.lock")


def worker_cold_start(provider: FakeProvider, folder: Path) -> tuple[ColdStart, FakeMetrics]:
    """One worker's cold-start path over the (shared) provider."""
    metrics = FakeMetrics()

    async def probe(address: str, port: int) -> bool:
        return True

    cold_start = ColdStart(
        Scaler(provider, metrics),
        provider,
        ReplicaResolver(60.0, resolve=FakeDNS(provider).resolve),
        timeout=5.0,
        probe=probe,
        poll_interval=0.001,
        shared=shared_parking(folder),
    )
    return cold_start, metrics


def test_only_the_worker_holding_the_lock_scales(tmp_path: Path) -> None:
    workers = [make(function("f", 1, OWNED_LABELS)) for _ in range(2)]
    for autoscaler, _, metrics, _ in workers:
        autoscaler.leadership = FileLock(tmp_path / "autoscaler.lock")
        metrics.loads["f"] = (20, 20)  # every worker sees the same shared load

    async def scenario() -> None:
        for autoscaler, _, _, _ in workers:
            await autoscaler.tick()
        assert [provider.calls for _, provider, _, _ in workers] == [[("f", 4)], []]
        await workers[0][0].close()  # the leader goes: the other takes over
        await workers[1][0].tick()
        assert workers[1][1].calls == [("f", 4)]

    asyncio.run(scenario())


def test_a_park_in_one_worker_holds_calls_in_another(tmp_path: Path) -> None:
    provider = FakeProvider([function("z", 1, ZERO_LABELS)])
    leader, _ = worker_cold_start(provider, tmp_path)
    other, _ = worker_cold_start(provider, tmp_path)
    assert not other.must_hold("z")
    with leader.parking("z"):
        other.parks.follow()
        assert other.must_hold("z")
        assert other.busy("z")
    other.parks.follow()
    # Ended: calls are still held (and wake the function) until the view shows 0.
    assert other.must_hold("z")
    assert SharedTable(tmp_path / "parked").entries() == {}


def test_wakes_in_two_workers_scale_once(tmp_path: Path) -> None:
    provider = FakeProvider([function("z", 0, ZERO_LABELS | {"com.faas.scale.min": "2"})])
    (first, first_metrics), (second, second_metrics) = (
        worker_cold_start(provider, tmp_path) for _ in range(2)
    )

    async def scenario() -> None:
        sleeping = provider.lookup("z")
        assert sleeping is not None
        woken = await asyncio.gather(
            *(worker.wake(sleeping) for worker in (first, second) for _ in range(5))
        )
        assert {f.replicas for f in woken} == {2}

    asyncio.run(scenario())
    assert provider.calls == [("z", 2)]
    assert first_metrics.cold_starts + second_metrics.cold_starts == ["z"]
    assert first_metrics.events + second_metrics.events == [("z", "up", 2)]


def test_a_wake_after_another_worker_woke_it_counts_no_cold_start(tmp_path: Path) -> None:
    provider = FakeProvider([function("z", 0, ZERO_LABELS)])
    (first, first_metrics), (second, second_metrics) = (
        worker_cold_start(provider, tmp_path) for _ in range(2)
    )

    async def scenario() -> None:
        sleeping = provider.lookup("z")
        assert sleeping is not None
        await first.wake(sleeping)
        # The second worker's call saw it asleep too, but reaches the (now free) wake
        # lock only after the first one woke it: it finds it up and scales nothing.
        await second.wake(sleeping)

    asyncio.run(scenario())
    assert provider.calls == [("z", 1)]
    assert (first_metrics.cold_starts, second_metrics.cold_starts) == (["z"], [])


class RecordLease:
    """A `LeaderLease` over one record every gateway shares (the engine's labels, in
    memory): free or ours is taken, another's is not (expiry: tests/gateway/providers)."""

    def __init__(self, record: dict[str, str], holder: str) -> None:
        self.record, self.holder = record, holder

    async def hold(self) -> bool:
        return self.record.setdefault("holder", self.holder) == self.holder

    async def release(self) -> None:
        if self.record.get("holder") == self.holder:
            del self.record["holder"]


def test_one_process_of_several_gateways_scales(tmp_path: Path) -> None:
    """Two gateway containers (a lock folder each) of two workers: one decider."""
    record: dict[str, str] = {}
    workers = [make(function("f", 1, OWNED_LABELS)) for _ in range(4)]
    reports: list[list[bool]] = [[] for _ in workers]
    for index, (autoscaler, _, metrics, _) in enumerate(workers):
        container = tmp_path / f"container-{index // 2}"
        container.mkdir(exist_ok=True)
        autoscaler.leadership = FileLock(container / "autoscaler.lock")
        autoscaler.lease = RecordLease(record, f"process-{index}")
        autoscaler.report_leader = reports[index].append
        metrics.loads["f"] = (20, 20)

    async def scenario() -> None:
        for autoscaler, _, _, _ in workers:
            await autoscaler.tick()
        assert [provider.calls for _, provider, _, _ in workers] == [[("f", 4)], [], [], []]
        assert [autoscaler.leading for autoscaler, _, _, _ in workers] == [
            True, False, False, False
        ]  # fmt: skip
        # The leading container goes away: its lease is given up, the other one's
        # flock holder takes over at its next pass.
        await workers[0][0].close()
        await workers[1][0].close()
        for autoscaler, _, _, _ in workers[2:]:
            await autoscaler.tick()
        assert [provider.calls for _, provider, _, _ in workers[2:]] == [[("f", 4)], []]
        assert record == {"holder": "process-2"}

    asyncio.run(scenario())
    assert reports[0] == [True, False]  # the gauge follows: 1 while leading, 0 after
    assert reports[2] == [False, True]  # stood by on the lease, then led


def test_a_flock_holder_without_the_lease_stands_by(tmp_path: Path) -> None:
    autoscaler, provider, metrics, _ = make(function("f", 1, OWNED_LABELS))
    autoscaler.leadership = FileLock(tmp_path / "autoscaler.lock")
    autoscaler.lease = RecordLease({"holder": "another gateway"}, "me")
    metrics.loads["f"] = (20, 20)
    asyncio.run(autoscaler.tick())
    assert provider.calls == []
    assert autoscaler.leadership.held  # it keeps the flock and asks for the lease each pass
    asyncio.run(autoscaler.close())
