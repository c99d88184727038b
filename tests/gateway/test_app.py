"""The app factory: which requests reach the platform app, which the proxy."""

from __future__ import annotations

import pytest

from gateway.app import is_platform_call
from gateway.providers.static import StaticProvider
from tests.gateway.harness import GatewayThread


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
