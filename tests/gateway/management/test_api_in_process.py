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
    provider: MemoryProvider, method: str, path: str, *, auth: Any = AUTH, **kwargs: Any
) -> httpx.Response:
    config = GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH))
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
