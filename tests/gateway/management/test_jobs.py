"""A job function's running and queued jobs in its record (docs/jobs.md, "Seeing them"):
from the provider's view and one read of the queue's counts, absent for other functions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from gateway.async_calls.broker import Broker
from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.errors import BrokerUnavailable
from gateway.management import jobs as management_jobs
from gateway.management.api import create_system_app
from gateway.management.jobs import function_jobs, pending_calls
from gateway.metrics import GatewayMetrics
from gateway.providers.base import Function
from gateway.versions.model import TRAFFIC_LABEL, VERSION_LABEL, VERSION_OF_LABEL
from gateway.versions.traffic import group_versions
from tests.gateway.async_calls.conftest import CREDENTIALS, broker_answers
from tests.gateway.async_calls.harness import async_config, start_nats
from tests.gateway.harness import GatewayThread
from tests.gateway.management.test_api_in_process import AUTH
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import wait_for

JOB = {"com.faas.mode": "job"}


def job_provider() -> MemoryProvider:
    """`heavy`, a job function with 2 jobs running, and `cat`, an ordinary one."""
    provider = MemoryProvider([
        Function("heavy", "faas/heavy", 0, "tasks.heavy", labels=JOB),
        Function("cat", "faas/cat", 1, "tasks.cat"),
    ])  # fmt: skip
    provider.jobs = {"heavy": 2}
    return provider


class FakeQueue:
    """`CallQueue.pending` as set, counting its reads; `error` raised instead if set."""

    def __init__(self, pending: Mapping[str, int], error: Exception | None = None) -> None:
        self.counts = dict(pending)
        self.error = error
        self.reads = 0
        self.delay = 0.0

    async def pending(self) -> dict[str, int]:
        self.reads += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.counts


class FakeBroker:
    """What the listing reads of a `Broker`: `ready` and `queue.pending`."""

    def __init__(self, queue: FakeQueue, ready: bool = True) -> None:
        self.queue = queue
        self.ready = ready


def call(provider: MemoryProvider, path: str, broker: FakeBroker | None) -> httpx.Response:
    config = GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH))
    app = create_system_app(
        config, provider, GatewayMetrics(provider), broker=cast(Broker | None, broker)
    )

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(path, auth=AUTH)

    return asyncio.run(send())


def test_queued_is_what_the_stream_holds_less_the_running_jobs() -> None:
    heavy = Function("heavy", "faas/heavy", 0, "tasks.heavy", labels=JOB)
    assert function_jobs(heavy, {"heavy": 2}, {"heavy": 5}).sent() == {"running": 2, "queued": 3}
    # Read a moment apart, the running may outnumber the held: never below 0.
    assert function_jobs(heavy, {"heavy": 3}, {"heavy": 1}).sent() == {"running": 3, "queued": 0}
    assert function_jobs(heavy, {}, {}).sent() == {"running": 0, "queued": 0}
    assert function_jobs(heavy, {"other": 4}, None).sent() == {"running": 0, "queued": None}


def test_a_function_with_versions_counts_the_jobs_of_each() -> None:
    own = Function("heavy", "faas/heavy:1", 0, "tasks.heavy",
                   labels={**JOB, VERSION_LABEL: "v1", TRAFFIC_LABEL: "v1=50,v2=50"})  # fmt: skip
    other = Function("heavy-v2", "faas/heavy:2", 0, "tasks.heavy-v2",
                     labels={**JOB, VERSION_LABEL: "v2", VERSION_OF_LABEL: "heavy"})  # fmt: skip
    grouped = group_versions([own, other])["heavy"]
    assert grouped.traffic is not None
    jobs = function_jobs(grouped, {"heavy": 1, "heavy-v2": 2}, {"heavy": 4})
    assert jobs.sent() == {"running": 3, "queued": 1}


def test_listing_shows_jobs_for_job_functions_only_from_one_queue_read() -> None:
    queue = FakeQueue({"heavy": 5, "cat": 7})
    reply = call(job_provider(), "/functions", FakeBroker(queue))
    assert reply.status_code == 200
    records = {record["name"]: record for record in reply.json()}
    assert records["heavy"]["jobs"] == {"running": 2, "queued": 3}
    assert "jobs" not in records["cat"]  # absent, not null: OpenFaaS's record as it was
    assert queue.reads == 1
    described = call(job_provider(), "/function/heavy", FakeBroker(queue))
    assert described.json()["jobs"] == {"running": 2, "queued": 3}
    assert "jobs" not in call(job_provider(), "/function/cat", FakeBroker(queue)).json()
    assert queue.reads == 2  # describing `cat` reads no queue


def test_without_a_job_function_the_queue_is_not_read() -> None:
    queue = FakeQueue({"cat": 7})
    provider = MemoryProvider([Function("cat", "faas/cat", 1, "tasks.cat")])
    assert call(provider, "/functions", FakeBroker(queue)).status_code == 200
    assert queue.reads == 0


@pytest.mark.parametrize(
    "broker",
    [
        None,  # async calls off
        FakeBroker(FakeQueue({"heavy": 5}), ready=False),
        FakeBroker(FakeQueue({}, BrokerUnavailable("message broker unavailable: stream info"))),
    ],
    ids=["off", "not-connected", "unavailable"],
)
def test_a_queue_that_cannot_be_read_shows_queued_null(broker: FakeBroker | None) -> None:
    reply = call(job_provider(), "/functions", broker)
    assert reply.status_code == 200
    heavy = next(record for record in reply.json() if record["name"] == "heavy")
    assert heavy["jobs"] == {"running": 2, "queued": None}


def test_a_broker_that_does_not_answer_in_time_shows_queued_null(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(management_jobs, "QUEUE_READ_SECONDS", 0.01)
    queue = FakeQueue({"heavy": 5})
    queue.delay = 10.0
    assert asyncio.run(pending_calls(cast(Broker, FakeBroker(queue)))) is None


@pytest.fixture
def queued_gateway(tmp_path: Path) -> Iterator[tuple[GatewayThread, MemoryProvider]]:
    """A gateway with async calls on a nats-server and no queue worker: calls stay queued."""
    provider = job_provider()
    with (
        start_nats(tmp_path / "jetstream") as nats,
        GatewayThread(
            provider, async_calls=async_config(nats.port), basic_auth=CREDENTIALS
        ) as gateway,
    ):
        wait_for(lambda: broker_answers(gateway), "the gateway's broker connection", timeout=30)
        yield gateway, provider


def test_calls_queued_on_the_broker_show_in_the_record(
    queued_gateway: tuple[GatewayThread, MemoryProvider],
) -> None:
    gateway, provider = queued_gateway
    auth: Any = (CREDENTIALS.user, CREDENTIALS.password)
    with gateway.client() as client:
        for number in range(5):
            accepted = client.post("/async-function/heavy", content=b"%d" % number)
            assert accepted.status_code == 202, accepted.text
        client.post("/async-function/cat", content=b"x")
        record = client.get("/system/function/heavy", auth=auth).json()
        assert record["jobs"] == {"running": 2, "queued": 3}  # 5 held, 2 of them running
        provider.jobs = {}
        listed = {r["name"]: r for r in client.get("/system/functions", auth=auth).json()}
    assert listed["heavy"]["jobs"] == {"running": 0, "queued": 5}
    assert "jobs" not in listed["cat"]
