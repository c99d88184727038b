"""`OwnNetworks`: this container on every namespace's network, without a restart.

A function of a namespace is on its namespace's network only (docs/management.md,
"Namespaces"), so the containers that call functions (the gateway's, the queue worker's)
must be on every namespace's network. A service's networks change only with a rolling
update of the service; a container's change at once with `docker network connect`. So
each of those containers connects itself, through the engine of its own node, to each
namespace network it sees (the namespace's removal disconnects them).

The engine refuses to connect a Swarm task's container to an overlay network that has no
endpoint on its node yet ("network ... not found": the network is only set up on a node
when something there uses it, moby/moby#39391). A plain container attached to it sets
it up: the anchor, a container of this container's own image that sleeps, started
attached to the network, removed as soon as this container is connected. It is never a
client's image and has no mount, port or privilege.

Only a container already on the functions network does this (the triggers service reads
the same discovery but calls functions through the queue). Outside a container (the
tests' local gateways) there is nothing to connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping

import docker
import docker.errors

from gateway.providers.swarm.namespace_subnets import join_addresses
from gateway.providers.swarm.services import ENGINE_ERRORS, mapping

log = logging.getLogger("gateway.swarm")

ANCHOR_LABEL = "com.faas.anchor"
"""On an anchor container: the namespace whose network it sets up on its node."""
ANCHOR_SECONDS = 60
"""An anchor sleeps this long at most (it is removed as soon as it served)."""
LOCK_FILE = os.path.join(tempfile.gettempdir(), "faas-networks.lock")
"""Taken while joining networks, by one process of the container at a time."""


class OwnNetworks:
    """Connects the container this process runs in to the namespaces' networks. Used by
    the discovery's sync thread only."""

    def __init__(self, functions_network: str, hostname: str | None = None) -> None:
        self._functions_network = functions_network
        self._hostname = hostname or socket.gethostname()
        self._container: Mapping[str, object] | None = None
        self._looked = False
        self._attached: set[str] = set()  # network ids

    def ensure(
        self,
        client: docker.DockerClient,
        networks: Mapping[str, str],
        orphans: Mapping[str, str] | None = None,
    ) -> None:
        """Be on each of `networks` (namespace: network id), and off each of `orphans`
        (network id: namespace; networks whose namespace is gone), removing an orphan
        once nothing else uses it; a failure is logged and tried again at the next sync."""
        orphans = orphans or {}
        wanted = set(networks.values())
        if self._looked and wanted <= self._attached and not orphans:
            return
        container = self._own_container(client)
        if container is None:
            return
        container_id = str(container.get("Id"))
        # One worker process of this container at a time: two anchors started at once on
        # a new network were refused ("Address already in use").
        with _container_lock():
            self._attached = _attached_networks(client, container_id)
            for namespace, network_id in networks.items():
                if network_id not in self._attached:
                    self._connect(client, container_id, namespace, network_id)
            for network_id, namespace in orphans.items():
                self._leave(client, container_id, namespace, network_id)

    def _leave(
        self, client: docker.DockerClient, container_id: str, namespace: str, network_id: str
    ) -> None:
        """Leave the network of a removed namespace, and remove it if nothing is left on
        it (the last container out does: a removal that found others on it could not)."""
        try:
            if network_id in self._attached:
                client.api.disconnect_container_from_network(container_id, network_id)
                self._attached.discard(network_id)
                log.info("left the network of removed namespace %r", namespace)
            client.api.remove_network(network_id)
        except docker.errors.NotFound:
            self._attached.discard(network_id)
        except ENGINE_ERRORS as error:
            log.debug("network of removed namespace %r not removed yet: %s", namespace, error)

    def _own_container(self, client: docker.DockerClient) -> Mapping[str, object] | None:
        if self._looked:
            return self._container
        try:
            container = mapping(client.api.inspect_container(self._hostname))
        except docker.errors.NotFound:
            container = None
        except ENGINE_ERRORS as error:
            log.debug("cannot inspect this container yet: %s", error)
            return None
        self._looked = True
        networks = mapping(mapping(mapping(container).get("NetworkSettings")).get("Networks"))
        if container is None or self._functions_network not in networks:
            self._container = None  # not a container that calls functions
        else:
            self._container = container
        return self._container

    def _connect(
        self, client: docker.DockerClient, container_id: str, namespace: str, network_id: str
    ) -> None:
        try:
            self._join(client, container_id, network_id)
        except docker.errors.NotFound:
            self._connect_anchored(client, container_id, namespace, network_id)
            return
        except ENGINE_ERRORS as error:
            log.warning("could not join the network of namespace %r: %s", namespace, error)
            return
        self._attached.add(network_id)
        log.info("joined the network of namespace %r", namespace)

    def _join(self, client: docker.DockerClient, container_id: str, network_id: str) -> None:
        """Connect, at an address outside the tasks' range (`namespace_subnets`); an
        address another container holds is passed over for the next. `NotFound` when
        the network is not set up on this node."""
        ipam = mapping(mapping(client.api.inspect_network(network_id)).get("IPAM"))
        addresses = join_addresses(ipam, container_id)
        if not addresses:
            log.warning("network %s has no range for joining containers", network_id)
            raise docker.errors.APIError("no address outside the tasks' range")
        for address in addresses:
            try:
                client.api.connect_container_to_network(
                    container_id, network_id, ipv4_address=address
                )
                return
            except docker.errors.NotFound:
                raise
            except docker.errors.APIError as error:
                if "already exists" in str(error):  # another worker process of ours did
                    return
                if "in use" not in str(error) and "unavailable" not in str(error):
                    raise
        raise docker.errors.APIError(f"every address tried was taken: {', '.join(addresses)}")

    def _connect_anchored(
        self, client: docker.DockerClient, container_id: str, namespace: str, network_id: str
    ) -> None:
        image = str(mapping(mapping(self._container).get("Config")).get("Image") or "")
        anchor = None
        try:
            anchor = client.containers.run(
                image,
                entrypoint=["sleep", str(ANCHOR_SECONDS)],
                command=[],
                network=network_id,
                labels={ANCHOR_LABEL: namespace},
                detach=True,
                auto_remove=True,
            )
            self._join(client, container_id, network_id)
        except ENGINE_ERRORS as error:
            log.warning("could not join the network of namespace %r: %s", namespace, error)
            return
        finally:
            if anchor is not None:
                with contextlib.suppress(*ENGINE_ERRORS):  # else auto_remove takes it
                    anchor.remove(force=True)
        self._attached.add(network_id)
        log.info("joined the network of namespace %r (set up on this node)", namespace)


@contextlib.contextmanager
def _container_lock() -> Iterator[None]:
    """An exclusive lock shared by the processes of this container (a file in /tmp);
    none when that cannot be written (the engine's refusals are then logged and retried)."""
    try:
        handle = open(LOCK_FILE, "a")  # noqa: SIM115 (closed below, after the unlock)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _attached_networks(client: docker.DockerClient, container_id: str) -> set[str]:
    try:
        container = mapping(client.api.inspect_container(container_id))
    except ENGINE_ERRORS:
        return set()
    networks = mapping(mapping(container.get("NetworkSettings")).get("Networks"))
    return {str(mapping(value).get("NetworkID")) for value in networks.values()}
