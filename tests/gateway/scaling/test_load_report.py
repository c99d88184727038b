"""`GET /system/load` in-process: behind the management API's credentials, this
container's calls and alert floors as a `LoadReport`; 503 with autoscaling off."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.api_types.answers import LoadReport
from gateway.app import create_app
from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.management.api import create_system_app
from gateway.metrics import GatewayMetrics
from gateway.providers.static import StaticProvider
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.peers import LOAD_PATH, parse_report
from tests.gateway.scaling.test_autoscaler import OWNED_LABELS, function, make

AUTH = ("admin", "pw")
CONFIG = GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH))


def get_load(autoscaler: Autoscaler | None, auth: Any = AUTH) -> httpx.Response:
    provider = make()[1]
    app = create_system_app(CONFIG, provider, GatewayMetrics(provider), autoscaler=autoscaler)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(LOAD_PATH.removeprefix("/system"), auth=auth)

    return asyncio.run(send())


def test_the_report_needs_the_credentials() -> None:
    autoscaler = make(function("f", 1, OWNED_LABELS))[0]
    assert get_load(autoscaler, auth=None).status_code == 401
    assert get_load(autoscaler, auth=("admin", "wrong")).status_code == 401


def test_the_report_is_the_containers_calls_and_floors() -> None:
    autoscaler, provider, metrics, _ = make(function("f", 2, OWNED_LABELS))
    metrics.loads = {"f": (12, 3), "g": (1, 0)}
    asyncio.run(autoscaler.alert(provider.lookup("f"), firing=True))  # type: ignore[arg-type]
    reply = get_load(autoscaler)
    assert reply.status_code == 200
    sent = parse_report(reply.content)  # what a peer reads is what the endpoint writes
    assert sent == autoscaler.report()
    assert isinstance(sent, LoadReport)
    assert reply.json()["functions"] == {
        "f": {"started": 12, "inflight": 3},
        "g": {"started": 1, "inflight": 0},
    }
    assert reply.json()["alerts"]["f"]["replicas"] == 3


def test_with_autoscaling_off_there_is_no_report() -> None:
    reply = get_load(None)
    assert reply.status_code == 503
    assert "GATEWAY_AUTOSCALE" in reply.json()["error"]


def test_the_gateway_serves_its_report_and_asks_its_peers_only_with_credentials() -> None:
    provider = StaticProvider([function("f", 1, OWNED_LABELS)])
    app = create_app(CONFIG, provider)
    assert app.state.autoscaler.peers is not None
    assert create_app(GatewayConfig(), provider).state.autoscaler.peers is None

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(LOAD_PATH, auth=AUTH)

    reply = asyncio.run(send())
    assert reply.status_code == 200
    assert reply.json()["gateway"] == app.state.autoscaler.identity
