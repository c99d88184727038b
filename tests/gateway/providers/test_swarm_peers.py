"""`GatewayPeers` against the fake engine: the running tasks of the gateway's own service,
by their address on the functions network, for the autoscaler to ask for their load."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import ProviderUnavailable
from gateway.providers.swarm.discovery import SwarmProvider
from gateway.providers.swarm.peers import GatewayPeers
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs, task_attrs

CONTAINER = "4f1e2d3c4b5a" + "0" * 52


def test_the_running_tasks_of_its_own_service_by_address(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    gateway = engine.create_service(
        service_attrs("func_gateway", labels={"com.faas.function": "false"}, stack="func")
    )
    other = engine.create_service(service_attrs("func_cat", stack="func"))
    engine.create_container(CONTAINER, {"com.docker.swarm.service.id": gateway})
    gone = task_attrs(gateway, "shutdown", address="10.0.1.9")
    gone["DesiredState"] = "shutdown"  # an old task of an update: not asked
    engine.set_tasks(
        [
            task_attrs(gateway, "running", address="10.0.1.2"),
            task_attrs(gateway, "running", address="10.0.1.3"),
            task_attrs(gateway, "pending"),  # no container yet: no address
            task_attrs(other, "running", address="10.0.1.7"),  # not a gateway
            gone,
        ]
    )
    peers = GatewayPeers(provider, hostname=CONTAINER[:12])
    assert asyncio.run(peers.addresses()) == ["10.0.1.2", "10.0.1.3"]
    assert engine.task_calls[-1] == {"service": gateway, "desired-state": "running"}


def test_not_a_swarm_task_has_no_peers_and_asks_once(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    peers = GatewayPeers(provider, hostname="laptop")
    assert [asyncio.run(peers.addresses()) for _ in range(3)] == [None] * 3
    assert engine.task_calls == []


def test_an_engine_out_of_reach_is_an_error_not_an_empty_cluster(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    gateway = engine.create_service(service_attrs("func_gateway"))
    engine.create_container(CONTAINER, {"com.docker.swarm.service.id": gateway})
    engine.go_down()
    with pytest.raises(ProviderUnavailable):
        asyncio.run(GatewayPeers(provider, hostname=CONTAINER[:12]).addresses())


def test_the_provider_lists_its_own_gateways(provider: SwarmProvider) -> None:
    # The provider's own `GatewayPeers` looks for this process's container: none here.
    assert asyncio.run(provider.gateway_addresses()) is None
