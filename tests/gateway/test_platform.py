"""The platform app's own endpoints and lifecycle (`gateway.platform`)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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
