"""The real `faas-cli namespace ...` against an in-process gateway (the in-memory provider:
no Docker). The binary comes from `FAAS_CLI`, else `../shared/refs/faas-cli` beside the
checkout; without either the test is skipped."""

from __future__ import annotations

from gateway.namespaces import NamespaceRecord
from tests.gateway.management import test_secrets_faas_cli as secrets_cli
from tests.gateway.management.test_secrets_faas_cli import FaasCli
from tests.gateway.providers.memory_provider import MemoryProvider

# The gateway and the logged-in faas-cli of the secrets' test, shared.
provider = secrets_cli.provider
cli = secrets_cli.faas_cli


def test_namespace_create_get_update_list_remove(cli: FaasCli, provider: MemoryProvider) -> None:
    cli("namespace", "create", "dev", "--label", "a=b", "--annotation", "x=y")
    cli("namespace", "create", "qa")
    assert provider.namespace_records["dev"] == NamespaceRecord(
        "dev", {"a": "b", "openfaas": "1"}, {"openfaas": "1", "x": "y"}
    )
    name, labels, first, second, annotations, *rest = cli("namespace", "get", "dev").splitlines()
    assert (name, labels, annotations) == ("Name: dev", "Labels:", "Annotations:")
    assert {first, second} == {" a: b", " openfaas: 1"}  # in Go's map order
    assert set(rest) == {" openfaas: 1", " x: y"}

    cli("namespace", "update", "dev", "--label", "c=d")
    assert provider.namespace_records["dev"].labels == {"c": "d", "openfaas": "1"}

    assert cli("namespace", "list") == "Namespaces:\n - openfaas-fn\n - dev\n - qa\n"

    cli("namespace", "remove", "dev")
    assert list(provider.namespace_records) == ["qa"]


def test_faas_cli_shows_our_refusals(cli: FaasCli, provider: MemoryProvider) -> None:
    cli("namespace", "create", "dev")
    assert "namespace 'dev' already exists" in cli("namespace", "create", "dev", ok=False)
    assert "openfaas-fn" in cli("namespace", "remove", "openfaas-fn", ok=False)
    said = cli("namespace", "create", "dev2", "--label", "com.faas.limit.functions=x", ok=False)
    assert "com.faas.limit.functions" in said
    assert "not found" in cli("namespace", "get", "nope", ok=False)
    assert "not found" in cli("namespace", "remove", "nope", ok=False)
    assert list(provider.namespace_records) == ["dev"]
