"""The functions' endpoints' own rules (the HTTP round trips are in test_api.py)."""

from __future__ import annotations

import pytest

from gateway.management.functions import image_allowed
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example.com/team/x:1", True),
        ("registry.example.com.evil.io/team/x:1", False),
        ("registry.example.comx/y", False),
        ("localhost/faas/cat:latest", True),
        ("localhost/faasx/cat:latest", False),
        ("busybox", False),
    ],
)
def test_allowlist_matches_at_a_name_boundary(image: str, allowed: bool) -> None:
    assert image_allowed(image, ("registry.example.com", "localhost/faas/")) is allowed


def test_a_version_whose_service_would_be_reserved_is_refused() -> None:
    provider = MemoryProvider()
    first = call(provider, "POST", "/functions", json={"service": "queue", "image": "faas/q:1"})
    assert first.status_code == 202
    body = {"service": "queue", "image": "faas/q:2", "version": "worker"}
    for method in ("POST", "PUT"):
        refused = call(provider, method, "/functions", json=body)
        assert refused.status_code == 400, method
        assert refused.json()["error"].startswith(
            "version: 'worker' of 'queue' would be the service 'queue-worker', which is reserved"
        )
    assert [function.name for function in provider.registry.all()] == ["queue"]
