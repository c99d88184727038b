"""`ClusterLoad`: the other gateway containers' reports, with a fake task list and fake
fetches (several peers, one restarting, one vanishing, one silent, one answering
garbage), and `HttpReportFetch` over an in-process transport."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api_types.answers import AlertFloor, FunctionLoad, LoadReport
from gateway.errors import ProviderUnavailable
from gateway.providers.base import Function
from gateway.scaling import peers
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.peers import (
    LOAD_PATH,
    PEER_GRACE_PASSES,
    ClusterLoad,
    HttpReportFetch,
    PeersSeen,
    PeerUnanswered,
    container_identity,
    parse_report,
)
from tests.gateway.scaling.test_autoscaler import (
    FakeClock,
    FakeMetrics,
    FakeProvider,
    function,
    make,
    ticks,
)

SELF = "self-id"


def report(
    gateway: str,
    loads: Mapping[str, tuple[int, int]],
    alerts: Mapping[str, tuple[int, float]] | None = None,
) -> LoadReport:
    return LoadReport(
        gateway=gateway,
        functions={n: FunctionLoad(started=s, inflight=i) for n, (s, i) in loads.items()},
        alerts={n: AlertFloor(replicas=r, at=at) for n, (r, at) in (alerts or {}).items()},
    )


class FakeCluster:
    """The task list and each address's answer, set by hand; records the metrics."""

    def __init__(self) -> None:
        self.listed: Sequence[str] | Exception | None = []
        self.answers: dict[str, LoadReport | Exception] = {}
        self.asked: list[str] = []
        self.peers: list[int] = []
        self.failures = 0
        self.hang = False  # the task list never comes

    async def addresses(self) -> Sequence[str] | None:
        if self.hang:
            await asyncio.Event().wait()
        if isinstance(self.listed, Exception):
            raise self.listed
        return self.listed

    async def fetch(self, address: str) -> LoadReport:
        self.asked.append(address)
        answer = self.answers[address]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def autoscaler_peers(self, count: int) -> None:
        self.peers.append(count)

    def peer_fetch_failed(self) -> None:
        self.failures += 1

    def load(self) -> ClusterLoad:
        return ClusterLoad(SELF, self.addresses, self.fetch, metrics=self)


def gather(cluster: ClusterLoad) -> PeersSeen:
    return asyncio.run(cluster.gather())


def test_peers_add_up_and_the_decider_skips_itself() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    fake.answers = {
        "10.0.0.1": report(SELF, {"f": (100, 9)}),  # this container: already counted
        "10.0.0.2": report("b", {"f": (10, 3), "g": (5, 1)}),
        "10.0.0.3": report("c", {"f": (20, 2)}),
    }
    cluster = fake.load()
    first = gather(cluster)
    # The first report of a peer is its baseline: no calls started yet, those in flight.
    assert (dict(first.started), dict(first.inflight)) == ({}, {"f": 5, "g": 1})
    assert (first.answered, fake.peers) == (2, [3])
    fake.answers["10.0.0.2"] = report("b", {"f": (14, 4), "g": (5, 0)})
    fake.answers["10.0.0.3"] = report("c", {"f": (21, 0)})
    fake.asked.clear()
    second = gather(cluster)
    assert (dict(second.started), dict(second.inflight)) == ({"f": 5}, {"f": 4})
    assert sorted(fake.asked) == ["10.0.0.2", "10.0.0.3"]  # not itself again


def test_a_restarted_peer_starts_a_new_baseline_and_never_a_negative_delta() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (50, 0)})}
    cluster = fake.load()
    gather(cluster)
    fake.answers["10.0.0.2"] = report("b", {"f": (60, 0)})
    assert gather(cluster).started == {"f": 10}
    # Restarted at the same address: a new id whose counter starts again near 0.
    fake.answers["10.0.0.2"] = report("b2", {"f": (3, 1)})
    restarted = gather(cluster)
    assert (dict(restarted.started), dict(restarted.inflight)) == ({"f": 10}, {"f": 1})
    fake.answers["10.0.0.2"] = report("b2", {"f": (7, 0)})
    assert gather(cluster).started == {"f": 14}
    # A counter that goes back under the same id (a function forgotten) adds nothing.
    fake.answers["10.0.0.2"] = report("b2", {"f": (2, 0)})
    assert gather(cluster).started == {"f": 14}


def test_a_vanished_peer_is_dropped_and_its_calls_so_far_still_count() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2", "10.0.0.3"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1, 4)}), "10.0.0.3": report("c", {})}
    cluster = fake.load()
    gather(cluster)
    fake.answers["10.0.0.2"] = report("b", {"f": (6, 4)})
    assert gather(cluster).inflight == {"f": 4}
    fake.listed = ["10.0.0.3"]  # its task no longer runs
    gone = gather(cluster)
    assert (dict(gone.started), dict(gone.inflight), gone.answered) == ({"f": 5}, {}, 1)


def test_a_silent_peer_counts_its_last_report_for_a_few_passes_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1, 3)}, {"f": (4, 100.0)})}
    cluster = fake.load()
    gather(cluster)
    fake.answers["10.0.0.2"] = PeerUnanswered("no answer within 0.5s")
    with caplog.at_level(logging.INFO, logger="gateway.scaling"):
        silent = [gather(cluster) for _ in range(PEER_GRACE_PASSES)]
        assert [dict(seen.inflight) for seen in silent] == [{"f": 3}] * PEER_GRACE_PASSES
        assert [len(seen.alerts) for seen in silent] == [1] * PEER_GRACE_PASSES
        dropped = gather(cluster)
        assert (dict(dropped.inflight), list(dropped.alerts)) == ({}, [])
        gather(cluster)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "10.0.0.2" in warnings[0].getMessage()
    assert fake.failures == PEER_GRACE_PASSES + 2
    assert fake.peers[-1] == 1  # heard from itself only
    # It answers again: a new baseline (its counter is unknown since), logged once.
    fake.answers["10.0.0.2"] = report("b", {"f": (9, 1)})
    with caplog.at_level(logging.INFO, logger="gateway.scaling"):
        back = gather(cluster)
    assert (dict(back.started), dict(back.inflight)) == ({}, {"f": 1})
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_garbage_or_an_error_is_no_answer_and_the_others_still_count() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    fake.answers = {
        "10.0.0.2": report("b", {"f": (1, 2)}),
        "10.0.0.3": PeerUnanswered("not a load report"),
        "10.0.0.4": PeerUnanswered("answered 401"),
    }
    seen = gather(fake.load())
    assert (dict(seen.inflight), seen.answered, fake.failures) == ({"f": 2}, 1, 2)


def test_without_a_task_list_the_view_is_the_containers_own() -> None:
    fake = FakeCluster()
    fake.listed = None  # the static provider, or not a Swarm task
    seen = gather(fake.load())
    assert (dict(seen.inflight), seen.answered, fake.asked, fake.peers) == ({}, 0, [], [1])


def test_an_engine_out_of_reach_keeps_the_last_reports_for_the_grace_passes() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1, 2)})}
    cluster = fake.load()
    gather(cluster)
    fake.listed = ProviderUnavailable("cannot reach the Docker engine")
    kept = [dict(gather(cluster).inflight) for _ in range(PEER_GRACE_PASSES + 1)]
    assert kept == [{"f": 2}] * PEER_GRACE_PASSES + [{}]


def test_standing_by_forgets_the_peers_and_reports_zero() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1, 2)})}
    cluster = fake.load()
    gather(cluster)
    cluster.stand_by()
    assert fake.peers[-1] == 0
    fake.answers["10.0.0.2"] = report("b", {"f": (5, 2)})
    assert gather(cluster).started == {}  # a baseline again


def test_the_identity_is_the_same_for_every_worker_of_one_start(tmp_path: Path) -> None:
    folder = tmp_path / "faas-gateway-abc"
    assert container_identity(folder) == container_identity(folder)
    assert container_identity(folder).endswith("-faas-gateway-abc")
    assert container_identity(None) != container_identity(None)


def fetch_with(handler: httpx.MockTransport, **options: Any) -> HttpReportFetch:
    return HttpReportFetch(8080, ("admin", "pw"), transport=handler, **options)


def test_the_fetch_asks_with_the_credentials_and_reads_a_report() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=report("b", {"f": (3, 1)}).sent())

    async def scenario() -> LoadReport:
        fetch = fetch_with(httpx.MockTransport(answer))
        try:
            return await fetch("10.0.0.2")
        finally:
            await fetch.close()

    assert asyncio.run(scenario()) == report("b", {"f": (3, 1)})
    [request] = seen
    assert str(request.url) == f"http://10.0.0.2:8080{LOAD_PATH}"
    assert request.headers["authorization"] == "Basic YWRtaW46cHc="


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(401, json={"error": "wrong user name or password"}), "401"),
        (httpx.Response(200, content=b"<html>"), "not a load report"),
        (httpx.Response(200, json={"gateway": "b", "functions": {"f": {"started": -1,
                                   "inflight": 0}}, "alerts": {}}), "not a load report"),
        (httpx.Response(200, json={"gateway": "b"}), "not a load report"),
        (httpx.Response(200, content=b"x" * 2000), "more than 1000 bytes"),
    ],
)  # fmt: skip
def test_a_bad_answer_is_no_report(response: httpx.Response, reason: str) -> None:
    async def scenario() -> None:
        fetch = fetch_with(httpx.MockTransport(lambda request: response), limit=1000)
        try:
            await fetch("10.0.0.2")
        finally:
            await fetch.close()

    with pytest.raises(PeerUnanswered, match=reason):
        asyncio.run(scenario())


def test_a_peer_that_does_not_answer_in_time_is_no_report() -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def scenario() -> None:
        fetch = fetch_with(httpx.MockTransport(never), within=0.01)
        try:
            await fetch("10.0.0.2")
        finally:
            await fetch.close()

    with pytest.raises(PeerUnanswered, match="no answer within"):
        asyncio.run(scenario())


def test_a_refused_connection_is_no_report() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def scenario() -> None:
        fetch = fetch_with(httpx.MockTransport(refuse))
        try:
            await fetch("10.0.0.2")
        finally:
            await fetch.close()

    with pytest.raises(PeerUnanswered, match="ConnectError"):
        asyncio.run(scenario())


def test_parse_report_reads_what_the_endpoint_writes() -> None:
    sent = report("b", {"f": (3, 1)}, {"f": (4, 1.5)})
    assert parse_report(json.dumps(sent.sent()).encode()) == sent


# The autoscaler with the other containers' reports.

SPREAD = {"com.faas.scale.min": "1", "com.faas.scale.max": "10", "com.faas.scale.target": "2"}


def deciding(
    fake: FakeCluster, *functions: Function
) -> tuple[Autoscaler, FakeProvider, FakeMetrics, FakeClock]:
    """The deciding autoscaler of the container `SELF`, the others as `fake` has them."""
    return make(*functions, peers=fake.load())


def test_calls_through_every_gateway_count() -> None:
    fake = FakeCluster()
    fake.listed = ["10.0.0.1", "10.0.0.2"]
    fake.answers = {"10.0.0.1": report(SELF, {}), "10.0.0.2": report("b", {"f": (4, 4)})}
    autoscaler, provider, metrics, _ = deciding(fake, function("f", 1, SPREAD))
    metrics.loads["f"] = (4, 4)  # half of 8 long calls here, half through the other
    asyncio.run(autoscaler.tick())
    assert provider.calls == [("f", 4)]  # 8 in flight at 2 a replica; this half alone: 2


def test_calls_started_through_every_gateway_make_the_rate() -> None:
    rps = {"com.faas.scale.type": "rps", "com.faas.scale.target": "10", "com.faas.scale.max": "10"}
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1000, 0)})}
    autoscaler, provider, metrics, clock = deciding(fake, function("f", 1, rps))
    metrics.loads["f"] = (0, 0)

    async def scenario() -> None:
        await autoscaler.tick()  # the peer's baseline: its 1000 earlier calls are no rate
        assert provider.calls == []
        clock.now += 2.0
        metrics.loads["f"] = (40, 0)  # 20 a second here, 20 a second there
        fake.answers["10.0.0.2"] = report("b", {"f": (1040, 0)})
        await autoscaler.tick()

    asyncio.run(scenario())
    assert provider.calls == [("f", 4)]


def test_a_floor_from_another_gateway_holds_until_one_resolves_it() -> None:
    labels = {**SPREAD, "com.faas.scale.cooldown": "10s"}
    fake = FakeCluster()
    fake.listed = ["10.0.0.2", "10.0.0.3"]
    fake.answers = {
        "10.0.0.2": report("b", {}, {"f": (5, 1_800_000_000.0)}),
        "10.0.0.3": report("c", {}),
    }
    autoscaler, provider, _, clock = deciding(fake, function("f", 5, labels))

    async def scenario() -> list[int]:
        replicas = []
        await ticks(autoscaler, clock, 30)  # idle past the cooldown: the floor holds
        replicas.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        fake.answers["10.0.0.3"] = report("c", {}, {"f": (0, 1_800_000_100.0)})
        await ticks(autoscaler, clock, 30)
        replicas.append(provider.lookup("f").replicas)  # type: ignore[union-attr]
        return replicas

    assert asyncio.run(scenario()) == [5, 1]


def test_a_park_checks_this_containers_calls_against_its_own_count() -> None:
    zero = {"com.faas.scale.zero": "true", "com.faas.scale.zero_after": "10s"}
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"z": (7, 0)})}
    autoscaler, provider, metrics, clock = deciding(fake, function("z", 1, zero))
    metrics.loads["z"] = (3, 0)
    asyncio.run(ticks(autoscaler, clock, 20))
    assert provider.calls == [("z", 0)]  # idle everywhere: parked


def test_a_task_list_that_does_not_come_is_like_an_engine_out_of_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(peers, "PEER_LIST_SECONDS", 0.01)
    fake = FakeCluster()
    fake.listed = ["10.0.0.2"]
    fake.answers = {"10.0.0.2": report("b", {"f": (1, 2)})}
    cluster = fake.load()
    gather(cluster)
    fake.hang = True
    assert gather(cluster).inflight == {"f": 2}  # its last report, for the grace passes
