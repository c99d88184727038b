"""`/system/triggers` and a function's triggers in its record; a trigger fired by hand
through a real gateway onto a real nats-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS, broker_answers
from tests.gateway.async_calls.harness import async_config, queued_calls
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import wait_for

NIGHTLY = Function(
    "nightly",
    "faas/nightly",
    1,
    "127.0.0.1:9",
    labels={
        "com.faas.annotation.topic": "cron-function,orders",
        "com.faas.annotation.schedule": "0 3 * * *",
        "com.faas.trigger.bad.schedule": "not cron",
    },
)


def test_triggers_are_listed_with_next_runs_and_problems() -> None:
    provider = MemoryProvider([NIGHTLY, Function("plain", "faas/plain", 1, "tasks.plain")])
    reply = call(provider, "GET", "/triggers")
    assert reply.status_code == 200
    listed = reply.json()
    cron, topic = listed["triggers"]
    assert (cron["function"], cron["name"], cron["kind"]) == ("nightly", "cron", "schedule")
    assert cron["schedule"] == "0 3 * * *"
    assert cron["openfaas"] is True
    assert len(cron["nextRuns"]) == 3
    assert all(run.endswith("T03:00:00Z") for run in cron["nextRuns"])
    assert (topic["name"], topic["topics"]) == ("topic", ["orders"])
    [problem] = listed["problems"]
    assert problem.startswith("nightly: com.faas.trigger.bad.schedule='not cron'")
    assert call(provider, "GET", "/triggers", auth=None).status_code == 401


def test_a_described_function_shows_its_triggers_and_goes_back_whole() -> None:
    provider = MemoryProvider([NIGHTLY])
    described = call(provider, "GET", "/function/nightly").json()
    assert [trigger["name"] for trigger in described["triggers"]] == ["cron", "topic"]


@pytest.fixture
def gateway(nats_server: BackgroundProcess) -> Iterator[GatewayThread]:
    ticking = Function("tick", "faas/tick", 1, "127.0.0.1:9",
                       labels={"com.faas.trigger.t.schedule": "0 0 1 1 *",
                               "com.faas.trigger.t.body": "from the schedule"})  # fmt: skip
    provider = StaticProvider([ticking, NIGHTLY])
    config = async_config(nats_server.port)
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as running:
        wait_for(lambda: broker_answers(running), "the gateway's broker connection", timeout=30)
        yield running


def test_a_trigger_is_fired_by_hand_as_an_async_call(gateway: GatewayThread) -> None:
    auth = (CREDENTIALS.user, CREDENTIALS.password)
    with gateway.client() as client:
        fired = client.post("/system/triggers/tick/fire", auth=auth)
        assert fired.status_code == 202, fired.text
        assert (fired.json()["function"], fired.json()["trigger"]) == ("tick", "t")
        status = client.get(f"/system/async/{fired.json()['callId']}", auth=auth)
        assert status.json()["state"] == "queued"
        several = client.post("/system/triggers/nightly/fire", auth=auth)
        assert several.status_code == 400
        assert "cron, topic" in several.json()["error"]
        named = client.post("/system/triggers/nightly/fire?trigger=topic", auth=auth,
                            content=b"an order")  # fmt: skip
        assert named.status_code == 202
        missing = client.post("/system/triggers/nightly/fire?trigger=nope", auth=auth)
        assert missing.status_code == 404
        assert client.post("/system/triggers/tick/fire").status_code == 401
    assert queued_calls(gateway.config.async_calls) == 2
