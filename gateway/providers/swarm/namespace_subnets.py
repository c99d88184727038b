"""The addresses of a namespace's network: its own subnet, half for its functions' tasks,
half for the containers that join it to call them (docs/management.md, "Namespaces").

Swarm gives each task an address from the network's pool. A gateway or queue-worker
container that joins the network by itself (`gateway.providers.swarm.attach`) gets one
from its node's engine, which Swarm does not know of: measured, the next task of the
network was given the gateway's address and failed to start ("Address already in use").
So a namespace's network is made with a subnet of its own whose lower half (`IPRange`) is
all Swarm hands out, and a joining container asks for an address in the upper half.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

NAMESPACE_SUBNETS = ipaddress.IPv4Network("10.209.0.0/16")
"""Where namespaces' subnets are taken from (beside the functions network's 10.208.0.0/20)."""
NAMESPACE_PREFIX = 24
"""One /24 per namespace: 125 task addresses, 126 for joining containers; 256 namespaces."""
JOIN_ATTEMPTS = 8
"""Addresses a joining container tries before it gives up (another took each)."""


def free_subnet(
    used: Iterable[str], pool: ipaddress.IPv4Network = NAMESPACE_SUBNETS
) -> ipaddress.IPv4Network | None:
    """The first /24 of `pool` that overlaps none of the `used` subnets (CIDR strings;
    invalid ones ignored), None when the pool is full."""
    taken = []
    for text in used:
        try:
            taken.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    for candidate in pool.subnets(new_prefix=NAMESPACE_PREFIX):
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    return None


def pool_config(subnet: ipaddress.IPv4Network) -> dict[str, str]:
    """The network's IPAM pool: `subnet`, its lower half for Swarm's tasks."""
    lower, _ = subnet.subnets(prefixlen_diff=1)
    return {
        "Subnet": str(subnet),
        "IPRange": str(lower),
        "Gateway": str(subnet.network_address + 1),
    }


def join_addresses(ipam: Mapping[str, Any], seed: str) -> list[str]:
    """Addresses for a container joining a network with this `IPAM` (as `docker network
    inspect` shows it): in its subnet, outside the tasks' `IPRange`, up to
    `JOIN_ATTEMPTS`, starting at a place `seed` (the container's id) picks. Empty when
    the network has no such range (not made by a namespace)."""
    for config in ipam.get("Config") or []:
        subnet, task_range = config.get("Subnet"), config.get("IPRange")
        if not subnet or not task_range:
            continue
        try:
            network = ipaddress.IPv4Network(subnet)
            tasks = ipaddress.IPv4Network(task_range)
        except ValueError:
            continue
        free = [host for host in network.hosts() if host not in tasks]
        if not free:
            continue
        start = zlib.crc32(seed.encode()) % len(free)
        ordered = free[start:] + free[:start]
        return [str(host) for host in ordered[:JOIN_ATTEMPTS]]
    return []
