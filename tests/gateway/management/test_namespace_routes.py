"""`/system/namespace` and `/system/namespaces` in-process (the in-memory provider), with
the bodies and paths faas-cli's `namespace` commands send."""

from __future__ import annotations

import pytest

from gateway.api_types.bodies import FunctionDeployment
from gateway.namespaces import NamespaceRecord
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider

# What faas-cli 0.18 sends (its go-sdk adds `openfaas: "1"` to both maps).
CREATED_LABELS = {"a": "b", "openfaas": "1"}
CREATED_ANNOTATIONS = {"openfaas": "1", "x": "y"}
CREATED = {"name": "dev", "annotations": CREATED_ANNOTATIONS, "labels": CREATED_LABELS}
UPDATED = {"name": "dev", "annotations": {"openfaas": "1"}, "labels": {"c": "d", "openfaas": "1"}}
REMOVED = {"name": "dev", "labels": {"openfaas": "1"}}


@pytest.fixture
def provider() -> MemoryProvider:
    return MemoryProvider()


def test_create_get_update_list_remove_as_faas_cli_calls_them(provider: MemoryProvider) -> None:
    created = call(provider, "POST", "/namespace/", json=CREATED)
    assert (created.status_code, created.json()) == (201, CREATED)
    assert provider.namespace_records["dev"] == NamespaceRecord(
        "dev", CREATED_LABELS, CREATED_ANNOTATIONS
    )
    got = call(provider, "GET", "/namespace/dev")
    assert (got.status_code, got.json()) == (200, CREATED)

    updated = call(provider, "PUT", "/namespace/dev", json=UPDATED)
    assert (updated.status_code, updated.json()) == (202, UPDATED)
    assert call(provider, "GET", "/namespace/dev").json() == UPDATED

    call(provider, "POST", "/namespace", json={"name": "qa"})  # without the slash too
    assert call(provider, "GET", "/namespaces").json() == ["openfaas-fn", "dev", "qa"]

    removed = call(provider, "DELETE", "/namespace/dev", json=REMOVED)
    assert removed.status_code == 202
    assert removed.json()["message"] == "removed namespace 'dev'"
    assert call(provider, "GET", "/namespaces").json() == ["openfaas-fn", "qa"]
    assert call(provider, "GET", "/namespace/dev").status_code == 404


def test_unknown_fields_and_nulls_are_ignored(provider: MemoryProvider) -> None:
    body = {"name": "dev", "labels": None, "namespace": "x", "extra": 1}
    assert call(provider, "POST", "/namespace/", json=body).status_code == 201
    assert provider.namespace_records["dev"] == NamespaceRecord("dev")


def test_the_default_namespace_always_exists(provider: MemoryProvider) -> None:
    default = {"name": "openfaas-fn"}
    created = call(provider, "POST", "/namespace/", json=default)
    assert (created.status_code, created.json()["error"]) == (
        409, "namespace 'openfaas-fn' already exists: it is the default one"
    )  # fmt: skip
    got = call(provider, "GET", "/namespace/openfaas-fn")
    assert (got.status_code, got.json()["name"]) == (200, "openfaas-fn")
    for method in ("PUT", "DELETE"):
        reply = call(provider, method, "/namespace/openfaas-fn", json=default)
        assert reply.status_code == 400
        assert "is the default one: it always exists" in reply.json()["error"]
    assert provider.namespace_records == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Dev"}, "name: 'Dev' is not a valid namespace"),
        ({"name": "a" * 31}, "is not a valid namespace"),
        ({"labels": {}}, "name: required"),
        ({"name": "dev", "labels": {"a": "b" * 1025}}, "labels.a: longer than 1024 characters"),
        ({"name": "dev", "labels": {"a b": "c"}}, "labels: 'a b' is not a valid key"),
        ({"name": "dev", "labels": {f"k{n}": "v" for n in range(40)},
          "annotations": {f"k{n}": "v" for n in range(25)}}, "at most 64 together"),
        ({"name": "dev", "labels": {"com.faas.limit.functions": "many"}},
         "labels.com.faas.limit.functions: 'many' is not an integer from 0 to 10000"),
        ({"name": "dev", "labels": {"com.faas.limit.memory": "lots"}},
         "labels.com.faas.limit.memory"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_400_naming_the_field(
    provider: MemoryProvider, body: dict[str, object], message: str
) -> None:
    reply = call(provider, "POST", "/namespace/", json=body)
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["error"]
    provider.namespace_records["dev"] = NamespaceRecord("dev")
    if body.get("name") == "dev":
        reply = call(provider, "PUT", "/namespace/dev", json=body)
        assert (reply.status_code, message in reply.json()["error"]) == (400, True)
    assert provider.namespace_records == {"dev": NamespaceRecord("dev")}


def test_the_body_must_name_the_paths_namespace(provider: MemoryProvider) -> None:
    provider.namespace_records["dev"] = NamespaceRecord("dev")
    for method in ("PUT", "DELETE"):
        reply = call(provider, method, "/namespace/dev", json={"name": "qa"})
        assert reply.status_code == 400
        assert reply.json()["error"] == "name: 'qa' does not match the path's namespace 'dev'"
    assert "dev" in provider.namespace_records


def test_unknown_namespaces_are_404_listing_the_known_ones(provider: MemoryProvider) -> None:
    provider.namespace_records["dev"] = NamespaceRecord("dev")
    for method, body in (("GET", None), ("PUT", {"name": "qa"}), ("DELETE", {"name": "qa"})):
        reply = call(provider, method, "/namespace/qa", json=body)
        assert reply.status_code == 404, method
        assert reply.json()["error"] == (
            "namespace 'qa' not found: this gateway has 'openfaas-fn', 'dev'"
        )
    created = call(provider, "POST", "/namespace/", json={"name": "dev"})
    assert (created.status_code, created.json()["error"]) == (
        409, "namespace 'dev' already exists"
    )  # fmt: skip


def test_remove_refuses_a_namespace_that_holds_functions_or_secrets(
    provider: MemoryProvider,
) -> None:
    provider.namespace_records["dev"] = NamespaceRecord("dev")
    provider.deployments["dev_hello"] = FunctionDeployment(
        service="hello", image="faas/hello", namespace="dev"
    )
    provider.namespaced_secrets["dev"] = {"api-key": b"x"}
    reply = call(provider, "DELETE", "/namespace/dev", json=REMOVED)
    assert reply.status_code == 409
    assert reply.json()["error"] == (
        "namespace 'dev' still holds functions 'hello'; secrets 'api-key'"
    )
    assert "dev" in provider.namespace_records


def test_namespace_routes_need_credentials(provider: MemoryProvider) -> None:
    for method, path in (("GET", "/namespace/dev"), ("POST", "/namespace/"),
                         ("PUT", "/namespace/dev"), ("DELETE", "/namespace/dev")):  # fmt: skip
        reply = call(provider, method, path, auth=None, json=CREATED)
        assert reply.status_code == 401, (method, path)
    assert provider.namespace_records == {}


def test_remove_takes_no_body_too(provider: MemoryProvider) -> None:
    provider.namespace_records["dev"] = NamespaceRecord("dev")
    assert call(provider, "DELETE", "/namespace/dev").status_code == 202
    assert provider.namespace_records == {}
    assert call(provider, "DELETE", "/namespace/openfaas-fn").status_code == 400
