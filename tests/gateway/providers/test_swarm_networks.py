"""`FunctionNetworks` through `SwarmProvider` on the fake engine: the functions network
found late, and which namespaces' networks this container joins or leaves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import cast

import docker
import pytest

from gateway.providers.swarm import networks
from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import (
    FUNCTIONS_NETWORK_ID,
    OTHER_NETWORK_ID,
    FakeDockerClient,
    service_attrs,
)
from tests.support import wait_for

Joins = list[tuple[dict[str, str], dict[str, str]]]


def test_network_created_after_start(caplog: pytest.LogCaptureFixture) -> None:
    engine = FakeDockerClient(networks={"functions-old": OTHER_NETWORK_ID})
    caplog.set_level(logging.INFO, logger="gateway.swarm")
    provider = SwarmProvider(client=cast(docker.DockerClient, engine))
    asyncio.run(provider.start())
    try:
        status = provider.status()
        assert status.ready
        assert "network 'functions' not found" in status.detail
        assert provider.functions() == []

        engine.create_network("functions", FUNCTIONS_NETWORK_ID)
        engine.create_service(service_attrs("catservice"))
        wait_for(lambda: provider.lookup("catservice") is not None)
        assert any("network 'functions' found" in r.getMessage() for r in caplog.records)
    finally:
        asyncio.run(provider.close())


@pytest.fixture
def joins(monkeypatch: pytest.MonkeyPatch) -> Joins:
    """What each `OwnNetworks.ensure` was asked: (namespace: network id, orphans)."""
    asked: Joins = []

    class RecordedNetworks:
        def __init__(self, functions_network: str) -> None:
            assert functions_network == "functions"

        def ensure(
            self,
            client: docker.DockerClient,
            wanted: Mapping[str, str],
            orphans: Mapping[str, str] | None = None,
        ) -> None:
            asked.append((dict(wanted), dict(orphans or {})))

    monkeypatch.setattr(networks, "OwnNetworks", RecordedNetworks)
    return asked


@pytest.fixture
def namespaced(engine: FakeDockerClient, joins: Joins) -> Iterator[SwarmProvider]:
    """A provider started on an engine with namespaces `dev` (holding a function) and `qa`
    (empty), and the network of a removed namespace `old`."""
    for namespace in ("dev", "qa", "old"):
        owned = {"com.faas.namespace": namespace, "com.faas.managed": "true"}
        engine.create_network(f"functions-{namespace}", f"net{namespace}", owned,
                              age=networks.ORPHAN_AFTER + 60)  # fmt: skip
        if namespace != "old":
            engine.create_config(f"faas-namespace-{namespace}", owned)
    labels = {"com.faas.namespace": "dev"}
    engine.create_service(service_attrs("dev_hello", networks=("netdev",), labels=labels))
    provider = SwarmProvider(client=engine, resync_interval=3600)
    asyncio.run(provider.start())
    yield provider
    asyncio.run(asyncio.wait_for(provider.close(), timeout=10))


def test_a_full_sync_joins_occupied_namespaces_and_leaves_removed_ones(
    namespaced: SwarmProvider, joins: Joins
) -> None:
    assert namespaced.lookup("dev_hello") is not None
    assert joins == [({"dev": "netdev"}, {"netold": "old"})]
    assert namespaced.network_ids() == {FUNCTIONS_NETWORK_ID, "netdev", "netqa"}
    assert namespaced.network_of("qa") == "functions-qa"
    assert namespaced.network_of(None) == "functions"


def test_a_namespace_s_first_function_joins_its_network_before_it_is_routed_to(
    engine: FakeDockerClient, namespaced: SwarmProvider, joins: Joins
) -> None:
    labels = {"com.faas.namespace": "qa"}
    engine.create_service(service_attrs("qa_hello", networks=("netqa",), labels=labels))
    wait_for(lambda: namespaced.lookup("qa_hello") is not None)
    assert joins[-1] == ({"qa": "netqa"}, {})  # an event leaves no orphan: a full sync does


def test_a_network_made_a_moment_ago_with_no_record_yet_is_not_left(
    engine: FakeDockerClient, joins: Joins, namespaced: SwarmProvider
) -> None:
    # A namespace's network is made just before its record (its config): a full sync
    # between the two must not take it for a removed namespace's.
    owned = {"com.faas.namespace": "new", "com.faas.managed": "true"}
    engine.create_network("functions-new", "netnew", owned, age=1.0)
    asyncio.run(namespaced.refresh())
    assert joins[-1] == ({"dev": "netdev"}, {"netold": "old"})
