"""SwarmProvider's namespaces (a config and an overlay network each) against the fake
engine: every `APIClient` call checked against the SDK's signature."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from gateway.errors import BadRequest, Conflict, NamespaceNotFound
from gateway.namespaces import MAX_NAMESPACE_ENTRIES, MAX_NAMESPACE_VALUE_LENGTH, NamespaceRecord
from gateway.providers.swarm import namespace_store
from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs

OWNED = {"com.faas.namespace": "dev", "com.faas.managed": "true"}
DEV = NamespaceRecord("dev", {"openfaas": "1", "team": "a"}, {"owner": "ann"})


def run(operation: Any) -> Any:
    return asyncio.run(operation)


def test_create_makes_the_network_then_the_config_holding_the_record(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_namespace(DEV))

    network = engine.network("functions-dev")
    assert network["Labels"] == OWNED
    assert (network["Driver"], network["Attachable"]) == ("overlay", True)
    config = engine.config("faas-namespace-dev")
    assert config["Spec"]["Labels"] == {
        **OWNED,
        "com.faas.namespace.label.openfaas": "1",
        "com.faas.namespace.label.team": "a",
        "com.faas.namespace.annotation.owner": "ann",
    }
    data = json.loads(__import__("base64").b64decode(config["Spec"]["Data"]))
    assert data == {"name": "dev", "labels": dict(DEV.labels), "annotations": {"owner": "ann"}}
    # The writer sees it at once; the record is read back from the config.
    assert set(provider.namespace_names()) == {"dev"}
    assert provider.namespace_network_ids() == {"dev": frozenset({network["Id"]})}
    assert run(provider.namespace("dev")) == DEV


def test_a_full_sync_reads_the_namespaces_and_their_networks(engine: FakeDockerClient) -> None:
    engine.create_network("functions-dev", "netdev", OWNED)
    engine.create_config("faas-namespace-dev", OWNED)
    engine.create_config("faas-namespace-x", {"com.faas.namespace": "x"})  # not managed
    engine.create_config("other", {**OWNED, "com.faas.namespace": "other"})  # misnamed
    provider = SwarmProvider(client=engine)
    run(provider.start())
    try:
        assert set(provider.namespace_names()) == {"dev"}
        assert provider.namespace_network_ids() == {"dev": frozenset({"netdev"})}
    finally:
        run(provider.close())


def test_create_of_an_existing_namespace_is_a_conflict_and_changes_nothing(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_namespace(DEV))
    before = (engine.config_names(), engine.network_names())
    with pytest.raises(Conflict, match="namespace 'dev' already exists"):
        run(provider.create_namespace(NamespaceRecord("dev")))
    assert (engine.config_names(), engine.network_names()) == before


def test_create_reuses_a_network_left_by_a_removal_and_refuses_someone_elses(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_network("functions-dev", "leftover", OWNED)
    run(provider.create_namespace(DEV))
    assert engine.network("functions-dev")["Id"] == "leftover"

    engine.create_config("faas-namespace-ops", {"made": "by hand"})
    with pytest.raises(Conflict, match="a Docker config named 'faas-namespace-ops' exists"):
        run(provider.create_namespace(NamespaceRecord("ops")))
    assert "functions-ops" not in engine.network_names()

    engine.create_network("functions-qa", "theirs", {})
    with pytest.raises(Conflict, match="a network named 'functions-qa' exists"):
        run(provider.create_namespace(NamespaceRecord("qa")))
    assert "faas-namespace-qa" not in engine.config_names()


def test_a_failed_config_takes_back_the_network_it_created(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.refuse("create_config", 500, "raft: no leader")
    with pytest.raises(Exception, match="no leader"):
        run(provider.create_namespace(DEV))
    assert "functions-dev" not in engine.network_names()
    assert "dev" not in provider.namespace_names()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (NamespaceRecord("Dev"), "not a valid namespace"),
        (NamespaceRecord("a" * 31), "not a valid namespace"),
        (NamespaceRecord("dev", {"k=v": "x"}), "not a valid key"),
        (NamespaceRecord("dev", {"k" * 254: "x"}), "not a valid key"),
        (NamespaceRecord("dev", {"k": "v" * (MAX_NAMESPACE_VALUE_LENGTH + 1)}), "at most 1024"),
        (NamespaceRecord("dev", {f"k{n}": "v" for n in range(MAX_NAMESPACE_ENTRIES)},
                         {"one": "more"}), "at most 64 together"),
    ],
)  # fmt: skip
def test_out_of_bounds_records_are_refused_before_any_engine_call(
    engine: FakeDockerClient, provider: SwarmProvider, record: NamespaceRecord, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        run(provider.create_namespace(record))
    with pytest.raises(BadRequest, match=message):
        run(provider.update_namespace(record))
    assert engine.config_names() == []


def test_update_replaces_the_labels_of_the_config_in_place(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_namespace(DEV))
    before = engine.config("faas-namespace-dev")
    changed = NamespaceRecord("dev", {"openfaas": "1", "c": "d"}, {})
    run(provider.update_namespace(changed))
    after = engine.config("faas-namespace-dev")
    assert after["ID"] == before["ID"]
    assert after["Version"]["Index"] == before["Version"]["Index"] + 1
    assert after["Spec"]["Data"] == before["Spec"]["Data"]
    assert run(provider.namespace("dev")) == changed


def test_update_reads_again_after_a_version_race_then_gives_up(
    engine: FakeDockerClient, provider: SwarmProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(provider.create_namespace(DEV))
    changed = NamespaceRecord("dev", {"c": "d"})
    engine.refuse("update_config", 500, "rpc error: code = Unknown desc = update out of sequence")
    run(provider.update_namespace(changed))  # the second try wins
    assert run(provider.namespace("dev")) == changed
    for _ in range(2):
        engine.refuse("update_config", 500, "update out of sequence")
    with pytest.raises(Conflict, match="changed while it was being updated"):
        run(provider.update_namespace(DEV))


def test_reads_and_writes_of_an_unknown_namespace_are_not_found(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_config("faas-namespace-qa", {"team": "b"})  # not ours
    for operation in (
        provider.namespace("qa"),
        provider.update_namespace(NamespaceRecord("qa")),
        provider.remove_namespace("qa"),
        provider.namespace("nope"),
    ):
        with pytest.raises(NamespaceNotFound):
            run(operation)
    assert engine.config_names() == ["faas-namespace-qa"]


def test_remove_refuses_while_functions_or_secrets_remain(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_namespace(DEV))
    labels = {"com.faas.namespace": "dev"}
    engine.create_service(service_attrs("dev_hello", labels=labels))
    engine.create_service(service_attrs("hello"))  # the default namespace's
    engine.create_secret("dev_api-key", {**labels, "com.faas.secret.name": "api-key"})
    with pytest.raises(Conflict, match=r"still holds functions 'hello'; secrets 'api-key'"):
        run(provider.remove_namespace("dev"))
    assert "faas-namespace-dev" in engine.config_names()
    assert "functions-dev" in engine.network_names()


def test_remove_detaches_this_engines_containers_then_removes_the_network(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_namespace(DEV))
    network_id = engine.network("functions-dev")["Id"]
    engine.attach("gateway0container", network_id)
    run(provider.remove_namespace("dev"))
    assert "faas-namespace-dev" not in engine.config_names()
    assert "functions-dev" not in engine.network_names()
    assert "dev" not in provider.namespace_names()
    assert provider.namespace_network_ids() == {}


def test_remove_retries_the_network_while_it_has_active_endpoints(
    engine: FakeDockerClient, provider: SwarmProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace_store, "_NETWORK_REMOVE_STEP", 0.01)
    run(provider.create_namespace(DEV))
    for _ in range(3):  # tasks still stopping on other nodes
        engine.refuse("remove_network", 403, "network functions-dev has active endpoints")
    run(provider.remove_namespace("dev"))
    assert "functions-dev" not in engine.network_names()


def test_remove_leaves_a_network_it_cannot_remove_and_says_so(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(namespace_store, "_NETWORK_REMOVE_STEP", 0.01)
    monkeypatch.setattr(namespace_store, "NETWORK_REMOVE_WAIT", 0.05)
    run(provider.create_namespace(DEV))
    for _ in range(1000):
        engine.refuse("remove_network", 403, "network functions-dev has active endpoints")
    with caplog.at_level(logging.WARNING, logger="gateway.swarm"):
        run(provider.remove_namespace("dev"))
    assert "faas-namespace-dev" not in engine.config_names()  # the namespace is gone
    assert "functions-dev" in engine.network_names()  # its network left for the cleanup
    assert "not its network" in caplog.text
    # A namespace of that name can be created again: the network is reused.
    run(provider.create_namespace(DEV))
