"""`OwnNetworks`: the gateway's container joins each namespace's network by itself."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, cast

import docker
import docker.errors

from gateway.providers.swarm.attach import ANCHOR_LABEL, OwnNetworks
from gateway.providers.swarm.namespace_subnets import join_addresses

ME = "c0ffee000001"


class Anchor:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def remove(self, force: bool) -> None:
        self.engine.calls.append(("remove anchor", force))
        self.engine.node_networks.discard("gone")


class FakeEngine:
    """The few engine calls `OwnNetworks` makes; `node_networks`: those set up on this
    node (connecting to another is refused as the engine does, NotFound)."""

    def __init__(self, networks: dict[str, str] | None) -> None:
        self.own = networks  # network name: id, None when this is not a container
        self.node_networks: set[str] = set()
        self.calls: list[tuple[Any, ...]] = []
        self.addresses: list[str | None] = []  # asked for, in order
        self.taken: set[str] = set()
        self.api = self
        self.containers = self

    def inspect_container(self, container: str) -> dict[str, Any]:
        self.calls.append(("inspect", container))
        if self.own is None or container != ME:
            raise docker.errors.NotFound("no such container")
        networks = {name: {"NetworkID": nid} for name, nid in self.own.items()}
        return {"Id": ME, "Config": {"Image": "faas/gateway:1"},
                "NetworkSettings": {"Networks": networks}}  # fmt: skip

    def inspect_network(self, network: str) -> dict[str, Any]:
        ipam = {"Config": [{"Subnet": "10.209.3.0/24", "IPRange": "10.209.3.0/25"}]}
        return {"Id": network, "IPAM": ipam}

    def connect_container_to_network(
        self, container: str, network: str, ipv4_address: str | None = None
    ) -> None:
        self.calls.append(("connect", container, network))
        self.addresses.append(ipv4_address)
        if ipv4_address in self.taken:
            raise docker.errors.APIError("Address already in use")
        if network not in self.node_networks:
            raise docker.errors.NotFound(f"network {network} not found")
        assert self.own is not None
        self.own[f"net-{network}"] = network

    def disconnect_container_from_network(self, container: str, network: str) -> None:
        self.calls.append(("disconnect", container, network))
        assert self.own is not None
        self.own = {name: nid for name, nid in self.own.items() if nid != network}

    def remove_network(self, network: str) -> None:
        self.calls.append(("remove network", network))

    def run(self, image: str, **options: Any) -> Anchor:
        self.calls.append(("run", image, options["network"], options["labels"]))
        self.node_networks.add(options["network"])
        return Anchor(self)


def own(engine: FakeEngine) -> tuple[OwnNetworks, docker.DockerClient]:
    return OwnNetworks("functions", hostname=ME), cast(docker.DockerClient, engine)


def test_outside_a_container_nothing_is_joined() -> None:
    engine = FakeEngine(None)
    networks, client = own(engine)
    networks.ensure(client, {"dev": "n1"})
    networks.ensure(client, {"dev": "n1", "prod": "n2"})
    assert [call[0] for call in engine.calls] == ["inspect"]


def test_a_container_off_the_functions_network_joins_nothing() -> None:
    engine = FakeEngine({"monitoring": "m1"})
    networks, client = own(engine)
    networks.ensure(client, {"dev": "n1"})
    assert [call[0] for call in engine.calls] == ["inspect"]


def test_each_namespace_network_is_joined_once() -> None:
    engine = FakeEngine({"functions": "f1"})
    engine.node_networks = {"n1", "n2"}
    networks, client = own(engine)
    networks.ensure(client, {"dev": "n1"})
    networks.ensure(client, {"dev": "n1", "prod": "n2"})
    networks.ensure(client, {"dev": "n1", "prod": "n2"})
    connects = [call[2] for call in engine.calls if call[0] == "connect"]
    assert connects == ["n1", "n2"]
    assert engine.own is not None
    assert set(engine.own.values()) == {"f1", "n1", "n2"}


def test_a_network_not_yet_on_this_node_is_set_up_by_an_anchor() -> None:
    engine = FakeEngine({"functions": "f1"})
    networks, client = own(engine)
    networks.ensure(client, {"dev": "n1"})
    steps = [call[0] for call in engine.calls]
    assert steps == ["inspect", "inspect", "connect", "run", "connect", "remove anchor"]
    run = next(call for call in engine.calls if call[0] == "run")
    assert run[1:] == ("faas/gateway:1", "n1", {ANCHOR_LABEL: "dev"})
    assert engine.own is not None
    assert "n1" in engine.own.values()


def test_a_removed_namespace_s_network_is_left_and_removed() -> None:
    engine = FakeEngine({"functions": "f1", "net-n1": "n1"})
    networks, client = own(engine)
    networks.ensure(client, {}, {"n1": "dev"})
    assert ("disconnect", ME, "n1") in engine.calls
    assert engine.calls[-1] == ("remove network", "n1")
    assert engine.own == {"functions": "f1"}


def test_a_joining_container_asks_for_an_address_outside_the_tasks_range() -> None:
    engine = FakeEngine({"functions": "f1"})
    engine.node_networks = {"n1"}
    networks, client = own(engine)
    first = join_addresses(
        {"Config": [{"Subnet": "10.209.3.0/24", "IPRange": "10.209.3.0/25"}]}, ME
    )
    engine.taken = {first[0]}  # another container holds the first one it picks
    networks.ensure(client, {"dev": "n1"})
    assert engine.addresses == first[:2]
    assert all(IPv4Address(address) >= IPv4Address("10.209.3.128") for address in first)
    assert engine.own is not None
    assert "n1" in engine.own.values()
