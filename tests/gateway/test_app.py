"""The app factory's own endpoints and lifecycle."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.app import is_platform_call
from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function, ProviderStatus
from gateway.providers.static import StaticProvider
from tests.gateway.harness import GatewayThread


class EngineDownProvider(StaticProvider):
    """A provider whose engine is unreachable, recording start/close calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def close(self) -> None:
        self.calls.append("close")

    def functions(self) -> Sequence[Function]:
        return []

    def status(self) -> ProviderStatus:
        return ProviderStatus(ready=False, detail="cannot reach the Docker engine")


def test_healthz_is_503_and_the_detail_needs_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Issue 15, item 12: unauthenticated /healthz used to show the engine's address and error.
    provider = EngineDownProvider()
    auth = BasicAuthCredentials("admin", "pw")
    with GatewayThread(provider, basic_auth=auth) as gateway, gateway.client() as client:
        response = client.get("/healthz")
        anonymous = client.get("/system/healthz")
        detailed = client.get("/system/healthz", auth=("admin", "pw"))
        assert provider.calls == ["start"]
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert anonymous.status_code == 401
    assert detailed.status_code == 503
    assert detailed.json() == {"status": "unavailable", "detail": "cannot reach the Docker engine"}
    assert any("cannot reach the Docker engine" in r.getMessage() for r in caplog.records)
    assert provider.calls == ["start", "close"]


def test_system_healthz_shows_the_detail_when_ready_too() -> None:
    auth = BasicAuthCredentials("admin", "pw")
    with GatewayThread(StaticProvider(), basic_auth=auth) as gateway, gateway.client() as client:
        response = client.get("/system/healthz", auth=("admin", "pw"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["detail"]


def test_metrics_endpoint_is_get_only_and_other_methods_are_routed() -> None:
    with GatewayThread(StaticProvider()) as gateway, gateway.client() as client:
        assert client.get("/metrics").status_code == 200
        assert client.head("/metrics").status_code == 200
        response = client.post("/metrics", headers={"X-Function": "nope"})
    assert response.status_code == 404
    assert response.text == "function 'nope' not found\n"


@pytest.mark.parametrize(
    ("method", "path", "platform"),
    [
        ("GET", "/healthz", True),
        ("HEAD", "/metrics", True),
        ("POST", "/metrics", False),  # a function named by X-Function or Alexa
        ("POST", "/system/functions", True),
        ("DELETE", "/system/functions", True),
        ("POST", "/system", False),
        ("GET", "/systemd", False),
        ("POST", "/function/catservice", False),
        ("GET", "/", False),
    ],
)
def test_function_calls_bypass_the_platform_app(method: str, path: str, platform: bool) -> None:
    assert is_platform_call(method, path) is platform
