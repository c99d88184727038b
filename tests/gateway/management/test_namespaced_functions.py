"""Functions in a namespace through the management API: deployed as `<ns>_<name>`,
listed, described, removed and counted as `<name>.<ns>` (docs/management.md,
"Namespaces")."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider


def provider_with(*namespaces: str) -> MemoryProvider:
    provider = MemoryProvider()
    provider.namespaces = set(namespaces)
    return provider


def deploy(provider: MemoryProvider, name: str, **fields: Any) -> httpx.Response:
    return call(
        provider, "POST", "/functions", json={"service": name, "image": "faas/x:1", **fields}
    )


def names(reply: httpx.Response) -> list[tuple[str, str]]:
    return [(f["name"], f["namespace"]) for f in reply.json()]


def test_the_same_name_in_two_namespaces() -> None:
    provider = provider_with("dev")
    assert deploy(provider, "fn").status_code == 202
    reply = deploy(provider, "fn", namespace="dev")
    assert reply.status_code == 202, reply.text
    assert reply.json()["message"] == "deploying function 'fn.dev'"
    assert sorted(f.name for f in provider.registry.all()) == ["dev_fn", "fn"]
    function = provider.lookup("fn.dev")
    assert function is not None
    assert (function.name, function.namespace, function.metric_name) == ("dev_fn", "dev", "fn.dev")
    assert names(call(provider, "GET", "/functions")) == [("fn", "openfaas-fn")]
    assert names(call(provider, "GET", "/functions?namespace=dev")) == [("fn", "dev")]
    described = call(provider, "GET", "/function/fn.dev").json()
    assert (described["name"], described["namespace"]) == ("fn", "dev")
    assert described["urls"]["path"] == "/function/fn.dev"
    assert call(provider, "GET", "/function/fn?namespace=dev").json()["namespace"] == "dev"


def test_the_query_parameter_names_the_namespace_of_a_deployment() -> None:
    provider = provider_with("dev")
    reply = call(
        provider, "POST", "/functions?namespace=dev", json={"service": "fn", "image": "faas/x:1"}
    )
    assert reply.status_code == 202, reply.text
    assert provider.lookup("fn.dev") is not None
    assert provider.lookup("fn") is None


def test_removal_takes_the_namespace_of_the_body() -> None:
    provider = provider_with("dev")
    deploy(provider, "fn")
    deploy(provider, "fn", namespace="dev")
    body = {"functionName": "fn", "namespace": "dev"}
    assert call(provider, "DELETE", "/functions", json=body).status_code == 202
    assert [f.name for f in provider.registry.all()] == ["fn"]


def test_versions_live_in_their_function_s_namespace() -> None:
    provider = provider_with("dev")
    deploy(provider, "fn", namespace="dev")
    reply = deploy(provider, "fn", namespace="dev", version="v2", weight=0, image="faas/x:2")
    assert reply.status_code == 202, reply.text
    assert sorted(f.name for f in provider.registry._plain.values()) == ["dev_fn", "dev_fn-v2"]
    version = provider.lookup("fn.dev@v2")
    assert version is not None
    assert version.metric_name == "fn.dev@v2"


def test_an_unknown_namespace_is_404_and_a_mismatch_400() -> None:
    provider = provider_with("dev")
    unknown = deploy(provider, "fn", namespace="prod")
    assert unknown.status_code == 404
    assert "namespace 'prod' not found" in unknown.json()["error"]
    assert call(provider, "GET", "/functions?namespace=prod").status_code == 404
    body = {"service": "fn", "image": "faas/x:1", "namespace": "openfaas-fn"}
    mismatch = call(provider, "POST", "/functions?namespace=dev", json=body)
    assert mismatch.status_code == 400
    deploy(provider, "fn", namespace="dev")
    assert call(provider, "GET", "/function/fn.dev?namespace=openfaas-fn").status_code == 400


def test_a_namespaced_function_is_not_found_by_its_bare_name() -> None:
    provider = provider_with("dev")
    deploy(provider, "fn", namespace="dev")
    assert call(provider, "GET", "/function/fn").status_code == 404
    assert call(provider, "GET", "/function/dev_fn").status_code == 200  # its service's name


def test_scale_reads_the_namespace_as_faas_cli_sends_it() -> None:
    provider = provider_with("dev")
    deploy(provider, "fn")
    deploy(provider, "fn", namespace="dev")
    body = {"serviceName": "fn", "replicas": 3, "namespace": "dev"}
    reply = call(provider, "POST", "/scale-function/fn?namespace=dev", json=body)
    assert reply.status_code == 202, reply.text
    replicas = {f.name: f.replicas for f in provider.registry.all()}
    assert replicas == {"dev_fn": 3, "fn": 1}
    assert call(provider, "POST", "/scale-function/fn.dev", json={"replicas": 2}).status_code == 202
    assert provider.lookup("fn.dev").replicas == 2  # type: ignore[union-attr]
