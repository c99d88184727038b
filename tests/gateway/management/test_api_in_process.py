"""The management API in-process: httpx's ASGI transport, no server, no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.management.api import create_system_app
from gateway.management.routes import OPERATIONS
from gateway.metrics import GatewayMetrics
from gateway.providers.base import Function
from tests.gateway.providers.memory_provider import MemoryProvider

AUTH = ("admin", "pw")


def call(
    provider: MemoryProvider,
    method: str,
    path: str,
    *,
    auth: Any = AUTH,
    config: GatewayConfig | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """`method path` of the management API in-process; `config` must hold `AUTH` (the
    default one does, and nothing else)."""
    config = config or GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH))
    app = create_system_app(config, provider, GatewayMetrics(provider))

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, path, auth=auth, **kwargs)

    return asyncio.run(send())


def test_lists_functions_with_their_status() -> None:
    provider = MemoryProvider([Function("cat", "faas/cat", 2, "tasks.cat")])
    reply = call(provider, "GET", "/functions")
    assert reply.status_code == 200
    [cat] = reply.json()
    assert (cat["name"], cat["replicas"], cat["availableReplicas"]) == ("cat", 2, 2)


def test_deploy_then_describe() -> None:
    provider = MemoryProvider()
    deployed = call(provider, "POST", "/functions", json={"service": "hi", "image": "faas/hi"})
    assert deployed.status_code == 202
    assert deployed.json()["name"] == "hi"
    described = call(provider, "GET", "/function/hi")
    assert described.status_code == 200
    assert described.json()["image"] == "faas/hi"


def test_errors_are_json_with_their_status() -> None:
    provider = MemoryProvider()
    missing = call(provider, "GET", "/function/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "function 'nope' not found"}
    bad = call(provider, "POST", "/scale-function/nope", json={"replicas": -1})
    assert bad.status_code == 400
    assert "replicas" in bad.json()["error"]


def test_wrong_credentials_are_a_json_401_with_a_challenge() -> None:
    reply = call(MemoryProvider(), "GET", "/functions", auth=("admin", "wrong"))
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == 'Basic realm="faas", charset="UTF-8"'
    assert "wrong user name or password" in reply.json()["error"]


def test_every_declared_operation_is_routed() -> None:
    provider = MemoryProvider([Function("cat", "faas/cat", 1, "tasks.cat")])
    for op in OPERATIONS:
        path = op.path.replace("{name}", "cat").replace("{call_id}", "c1")
        reply = call(provider, op.method, path, content=b"{}")
        assert reply.status_code != 405, (op.method, op.path)
        if reply.status_code == 404:
            assert "no such path" not in reply.json()["error"], (op.method, op.path)


def test_what_a_deployment_asks_in_vain_is_said_back() -> None:
    provider = MemoryProvider()
    honoured = call(provider, "POST", "/functions",
                    json={"service": "hi", "image": "faas/hi", "network": "functions"})  # fmt: skip
    assert "warnings" not in honoured.json()
    assert "warning" not in honoured.headers
    body = {
        "service": "hi", "image": "faas/hi", "network": 'func"\r\nX-Injected: 1',
        "labels": {"com.openfaas.health.http.path": "/ready", "team": "a"},
    }  # fmt: skip
    updated = call(provider, "PUT", "/functions", json=body)
    assert updated.status_code == 202
    network, label = updated.json()["warnings"]
    assert network.startswith("network 'func\"\\r\\nX-Injected: 1' is ignored: functions")
    assert label.startswith("label 'com.openfaas.health.http.path' is kept but ignored:")
    header = updated.headers["warning"]
    assert header.startswith("299 faas \"network 'func\\\"\\\\r\\\\nX-Injected: 1' is ignored")
    assert ", 299 faas \"label 'com.openfaas.health.http.path' is kept" in header
    assert "x-injected" not in updated.headers
    too_long = call(provider, "PUT", "/functions", json=body | {"network": "n" * 254})
    assert too_long.status_code == 400
    assert "network" in too_long.json()["error"]
