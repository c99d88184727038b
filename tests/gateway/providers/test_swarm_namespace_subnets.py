"""A namespace's subnet, and the addresses a joining container may take in it."""

from __future__ import annotations

import ipaddress

from gateway.providers.swarm.namespace_subnets import (
    JOIN_ATTEMPTS,
    free_subnet,
    join_addresses,
    pool_config,
)


def test_the_first_free_slash_24_of_the_pool() -> None:
    assert str(free_subnet([])) == "10.209.0.0/24"
    used = ["10.209.0.0/24", "10.208.0.0/20", "not a subnet", "10.209.1.128/25"]
    assert str(free_subnet(used)) == "10.209.2.0/24"
    assert free_subnet(["10.209.0.0/16"]) is None


def test_tasks_get_the_lower_half_and_joiners_the_upper() -> None:
    pool = pool_config(ipaddress.IPv4Network("10.209.7.0/24"))
    assert pool == {"Subnet": "10.209.7.0/24", "IPRange": "10.209.7.0/25", "Gateway": "10.209.7.1"}
    addresses = join_addresses({"Config": [pool]}, "c0ffee")
    assert len(addresses) == JOIN_ATTEMPTS
    upper = ipaddress.IPv4Network("10.209.7.128/25")
    assert all(ipaddress.IPv4Address(a) in upper for a in addresses)
    assert "10.209.7.255" not in addresses
    assert join_addresses({"Config": [pool]}, "other") != addresses  # spread by container
    assert join_addresses({"Config": [{"Subnet": "10.0.0.0/24"}]}, "c0ffee") == []
