"""`FunctionNetworks`: which networks functions are on, and this container on them.

A function is a service on the functions network or on a namespace's network
(docs/management.md, "Namespaces"). The view holds the ids of both, as the discovery's
last sync read them, and the networks of removed namespaces (orphans). It has this
container join a namespace's network before the gateway routes to the namespace's first
function, and leave an orphan (`OwnNetworks`, gateway.providers.swarm.attach).

Read and written on the discovery's sync thread only; `ids()` is read anywhere (the
frozenset is swapped whole).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import docker

from gateway.namespaces import NAMESPACE_LABEL
from gateway.providers.base import Function, engine_time
from gateway.providers.swarm.attach import OwnNetworks
from gateway.providers.swarm.namespace_store import SwarmNamespaces, network_name
from gateway.providers.swarm.services import mapping

log = logging.getLogger("gateway.swarm")

ORPHAN_AFTER = 60.0
"""A namespace's network with no record for this long is a removed namespace's."""


class FunctionNetworks:
    """The functions network's and the namespaces' networks for `SwarmProvider` (see the
    module docstring)."""

    def __init__(self, network: str, namespaces: SwarmNamespaces, engine: str) -> None:
        self._network = network
        self._namespaces = namespaces
        self._engine = engine
        self._ids: frozenset[str] = frozenset()
        self._missing: bool | None = None
        self._by_namespace: dict[str, str] = {}  # namespace: its network's id
        self._orphans: dict[str, str] = {}  # network id: namespace (removed)
        self._own = OwnNetworks(network)

    def network_of(self, namespace: str | None) -> str:
        """The network a function of `namespace` (None: the default) is attached to."""
        return network_name(self._network, namespace) if namespace else self._network

    def ids(self) -> frozenset[str]:
        """The functions network's ids and the namespaces' networks', as last read."""
        return self._ids

    @property
    def missing(self) -> bool:
        """Whether the last read found no functions network."""
        return bool(self._missing)

    def refresh(self, client: docker.DockerClient) -> None:
        """Read the functions network, then the namespaces' records and networks
        (`SwarmNamespaces.sync`). Engine errors propagate."""
        # The name filter matches substrings, hence the exact comparison.
        found = frozenset(
            str(network.id)
            for network in client.networks.list(names=[self._network])
            if network.name == self._network
        )
        # The namespaces' records, then their networks: a network whose namespace has no
        # record any more is being removed (or was left by a removal that could not
        # finish), and is left rather than joined.
        self._namespaces.sync(client)
        names = self._namespaces.names()
        namespaced = self._namespaces.labelled_networks()
        labelled = {
            str(network.get("Id")): str(mapping(network.get("Labels")).get(NAMESPACE_LABEL))
            for network in namespaced
        }
        self._by_namespace = {ns: nid for nid, ns in labelled.items() if ns in names}
        missing = not found
        found |= frozenset(self._by_namespace.values())
        # Not one made a moment ago: its namespace's config is written just after it.
        settled = time.time() - ORPHAN_AFTER
        self._orphans = {
            network_id: namespace
            for network in namespaced
            if (namespace := labelled[network_id := str(network.get("Id"))]) not in names
            and (engine_time(str(network.get("Created", ""))) or (0, 0))[0] < settled
        }
        if missing and self._missing is not True:
            log.warning(
                "network %r not found on %s: no functions until it exists "
                "(the stack creates it); checking again on every resync",
                self._network,
                self._engine,
            )
        elif not missing and self._missing:
            log.info("network %r found", self._network)
        self._ids, self._missing = found, missing

    def join(
        self,
        client: docker.DockerClient,
        functions: Sequence[Function],
        leave_orphans: bool = False,
    ) -> None:
        """Be on the networks of the namespaces `functions` are in before routing to them
        (`OwnNetworks`), and off the orphans if `leave_orphans` (on a full sync). A
        namespace with no function yet is not joined: its network, had a gateway joined
        it, outlived a removal on this engine."""
        occupied = {function.namespace for function in functions if function.namespace}
        networks = self._by_namespace
        wanted = {ns: networks[ns] for ns in occupied if ns in networks}
        self._own.ensure(client, wanted, self._orphans if leave_orphans else None)
