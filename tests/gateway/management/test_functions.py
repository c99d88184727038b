"""The functions' endpoints' own rules (the HTTP round trips are in test_api.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.labels import DOMAIN_LABEL
from gateway.management.functions import image_allowed
from gateway.providers.base import Function
from tests.gateway.management.test_api_in_process import AUTH
from tests.gateway.management.test_api_in_process import call as call_api
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


# Custom domains and URLs ------------------------------------------------------------------


DOMAIN_CONFIG = GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH), functions_domain="faas.local")


def call(provider: MemoryProvider, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """`path` of the management API in-process, with a functions domain `faas.local`."""
    return call_api(provider, method, path, config=DOMAIN_CONFIG, **kwargs)


def deployment(name: str, domains: str, **fields: Any) -> dict[str, Any]:
    return {"service": name, "image": f"faas/{name}", "labels": {DOMAIN_LABEL: domains}, **fields}


def test_a_domain_another_function_has_is_a_409_naming_it() -> None:
    provider = MemoryProvider()
    first = call(provider, "POST", "/functions", json=deployment("api", "api.example.com"))
    assert first.status_code == 202
    taken = call(provider, "POST", "/functions", json=deployment("web", "w.io,API.example.com"))
    assert taken.status_code == 409
    assert taken.json() == {
        "error": "custom domain 'api.example.com' (com.faas.domain) already reaches "
        "function 'api': remove it there first"
    }
    assert provider.lookup("web") is None
    moved = call(provider, "PUT", "/functions", json=deployment("api", "w.io"))
    assert moved.status_code == 202
    freed = call(provider, "POST", "/functions", json=deployment("web", "api.example.com"))
    assert freed.status_code == 202


def test_a_function_keeps_its_domain_on_update_and_shares_it_with_its_versions() -> None:
    provider = MemoryProvider()
    call(provider, "POST", "/functions", json=deployment("api", "api.example.com"))
    again = call(provider, "PUT", "/functions", json=deployment("api", "api.example.com"))
    assert again.status_code == 202
    version = deployment("api", "api.example.com", version="v2", weight=0)
    assert call(provider, "POST", "/functions", json=version).status_code == 202


def test_an_invalid_domain_is_a_400() -> None:
    bad = call(MemoryProvider(), "POST", "/functions", json=deployment("api", "*.example.com"))
    assert bad.status_code == 400
    assert "com.faas.domain" in bad.json()["error"]


def test_describe_and_list_show_the_functions_urls() -> None:
    provider = MemoryProvider()
    call(provider, "POST", "/functions", json=deployment("api", "api.example.com,b.io"))
    call(provider, "POST", "/functions", json=deployment("api", "", version="v2", weight=10))
    urls = {
        "path": "/function/api",
        "hosts": ["api.faas.local", "v1.api.faas.local", "v2.api.faas.local"],
        "domains": ["api.example.com", "b.io"],
    }
    assert call(provider, "GET", "/function/api").json()["urls"] == urls
    assert call(provider, "GET", "/functions").json()[0]["urls"] == urls


def test_a_stack_functions_urls_use_its_short_name_and_only_domains_it_wins() -> None:
    older = Function(
        "func_env", "faas/env", 1, "tasks.env", stack="func",
        labels={DOMAIN_LABEL: "x.io,y.io"}, created_at="2026-02-01T00:00:00Z",
    )  # fmt: skip
    oldest = Function(
        "other", "faas/o", 1, "tasks.o", labels={DOMAIN_LABEL: "y.io"},
        created_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    described = call(MemoryProvider([older, oldest]), "GET", "/function/env").json()
    assert described["urls"] == {
        "path": "/function/env",
        "hosts": ["env.faas.local"],
        "domains": ["x.io"],
    }


@pytest.mark.parametrize("domain", ["shop.faas.local", "faas.local", "v2.shop.FAAS.local"])
def test_a_domain_in_the_functions_domain_is_a_400(domain: str) -> None:
    bad = call(MemoryProvider(), "POST", "/functions", json=deployment("api", domain))
    assert bad.status_code == 400
    assert "GATEWAY_FUNCTIONS_DOMAIN" in bad.json()["error"]


# Writes read against the function as it is -------------------------------------------------


class RecordingProvider(MemoryProvider):
    """Records the order of refreshes and writes."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    async def refresh(self) -> None:
        self.steps.append("refresh")

    async def deploy(self, deployment: Any) -> None:
        self.steps.append("deploy")
        await super().deploy(deployment)

    async def update(self, deployment: Any) -> None:
        self.steps.append("update")
        await super().update(deployment)

    async def remove(self, name: str) -> None:
        self.steps.append("remove")
        await super().remove(name)


def test_a_version_an_update_and_a_removal_first_catch_up_with_earlier_writes() -> None:
    """A second version posted right after the first (by another process, or before the
    engine's event) must find the function: the view is refreshed first. A plain deploy
    reads nothing of the view and is not slowed."""
    provider = RecordingProvider()
    plain = {"service": "fn", "image": "faas/fn:1"}
    assert call(provider, "POST", "/functions", json=plain).status_code == 202
    assert provider.steps == ["deploy"]
    provider.steps.clear()
    version = {**plain, "image": "faas/fn:2", "version": "v2", "weight": 0}
    assert call(provider, "POST", "/functions", json=version).status_code == 202
    assert provider.steps == ["refresh", "deploy"]
    provider.steps.clear()
    assert call(provider, "PUT", "/functions", json=plain).status_code == 202
    assert provider.steps == ["refresh", "update"]
    provider.steps.clear()
    removal = call(provider, "DELETE", "/functions", json={"functionName": "fn"})
    assert removal.status_code == 202
    assert provider.steps == ["refresh", "remove"]
