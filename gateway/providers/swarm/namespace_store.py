"""The namespaces besides the default, on Docker Swarm (docs/management.md, "Namespaces").

A namespace `ns` is two engine objects, both labelled `com.faas.namespace=<ns>` and
`com.faas.managed=true`:

- the Swarm config `faas-namespace-<ns>`: it exists while the namespace does, and its
  labels hold the record (`com.faas.namespace.label.<key>`,
  `com.faas.namespace.annotation.<key>`). Its data is the record as created, in JSON, for
  `docker config inspect`: the engine lets only a config's labels change, so the labels
  are the record. An update is a compare-and-swap on the config's version.
- the attachable overlay network `<functions network>-<ns>`: its functions' own.

Creating makes the network first (or takes the one already labelled for the namespace,
left by a removal that could not finish), then the config. Removing refuses while
functions (services labelled for the namespace) or secrets (Docker secrets labelled so)
remain, then removes the config, detaches the containers of this engine from the network
(the platform's own: gateways, queue workers) and removes it, retrying for
`NETWORK_REMOVE_WAIT` seconds while the engine says it has active endpoints (tasks still
stopping on other nodes); after that it is logged and left, for a later cleanup.

The view (`sync`, on the discovery's sync thread) is the names of the configs and the ids
of their networks, read on every full sync; a write of this process shows in it at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types

from gateway.errors import Conflict, NamespaceNotFound
from gateway.labels import MANAGED_LABEL, NAMESPACE_LABEL, SECRET_NAME_LABEL
from gateway.namespaces import NAMESPACE_PATTERN, NamespaceRecord, check_record
from gateway.providers.swarm.engine import api_error, engine_call
from gateway.providers.swarm.namespace_subnets import NAMESPACE_SUBNETS, free_subnet, pool_config
from gateway.providers.swarm.services import mapping

if TYPE_CHECKING:
    from gateway.providers.swarm.discovery import SwarmProvider

log = logging.getLogger("gateway.swarm")

CONFIG_PREFIX = "faas-namespace-"
"""A namespace's config is `faas-namespace-<ns>`."""
RECORD_LABEL_PREFIX = NAMESPACE_LABEL + ".label."
RECORD_ANNOTATION_PREFIX = NAMESPACE_LABEL + ".annotation."
NETWORK_REMOVE_WAIT = 5.0
"""Seconds a removal retries its network while the engine says it has active endpoints."""
_NETWORK_REMOVE_STEP = 0.25
_UPDATE_TRIES = 2  # a config changed between reading and updating it: read once more
_OWNED_FILTER = {"label": NAMESPACE_LABEL}


def config_name(namespace: str) -> str:
    """The Swarm config of `namespace`."""
    return CONFIG_PREFIX + namespace


def network_name(functions_network: str, namespace: str) -> str:
    """The overlay network of `namespace`'s functions."""
    return f"{functions_network}-{namespace}"


def _owned(namespace: str) -> dict[str, str]:
    return {NAMESPACE_LABEL: namespace, MANAGED_LABEL: "true"}


def config_labels(record: NamespaceRecord) -> dict[str, str]:
    """The labels of a namespace's config: ours, and the record's."""
    return {
        **_owned(record.name),
        **{RECORD_LABEL_PREFIX + key: value for key, value in record.labels.items()},
        **{RECORD_ANNOTATION_PREFIX + key: value for key, value in record.annotations.items()},
    }


def record_from_labels(namespace: str, labels: Mapping[str, str]) -> NamespaceRecord:
    """The record a config's labels hold (`config_labels`' inverse)."""

    def under(prefix: str) -> dict[str, str]:
        return {k[len(prefix) :]: str(v) for k, v in labels.items() if k.startswith(prefix)}

    return NamespaceRecord(namespace, under(RECORD_LABEL_PREFIX), under(RECORD_ANNOTATION_PREFIX))


def _namespace_of(config: Mapping[str, Any]) -> str | None:
    """The namespace a listed config is, if it is one of ours."""
    spec = mapping(config.get("Spec"))
    labels = mapping(spec.get("Labels"))
    namespace = labels.get(NAMESPACE_LABEL)
    if (
        not isinstance(namespace, str)
        or labels.get(MANAGED_LABEL) != "true"
        or NAMESPACE_PATTERN.fullmatch(namespace) is None
        or spec.get("Name") != config_name(namespace)
    ):
        return None
    return namespace


class SwarmNamespaces:
    """`NamespaceStore` on Swarm configs and overlay networks, for `SwarmProvider` (see
    the module docstring)."""

    def __init__(self, discovery: SwarmProvider) -> None:
        self._discovery = discovery
        self._lock = threading.Lock()
        self._names: frozenset[str] = frozenset()
        self._network_ids: Mapping[str, frozenset[str]] = {}
        self._labelled: Sequence[Mapping[str, Any]] = ()  # every namespace network listed
        self._writes = 0  # a sync that listed before a write of ours does not undo it

    # The view.

    def names(self) -> Collection[str]:
        """The namespaces as last read (`NamespaceStore.namespace_names`), no I/O."""
        return self._names

    def network_ids(self) -> Mapping[str, frozenset[str]]:
        """The ids of each namespace's network, as last read, no I/O."""
        return self._network_ids

    def labelled_networks(self) -> Sequence[Mapping[str, Any]]:
        """Every network labelled for a namespace, as the last sync listed them (`docker
        network ls` attrs), those of removed namespaces too; no I/O."""
        return self._labelled

    def sync(self, client: docker.DockerClient) -> None:
        """Read the namespaces' configs and networks (two engine calls; the discovery's
        sync thread calls it on every full sync). Engine errors propagate."""
        writes = self._writes
        names = {
            namespace
            for config in client.api.configs(filters=_OWNED_FILTER)  # type: ignore[no-untyped-call]
            if (namespace := _namespace_of(config)) is not None
        }
        ids: dict[str, set[str]] = {}
        self._labelled = labelled = client.api.networks(filters=_OWNED_FILTER)
        for network in labelled:
            namespace = mapping(network.get("Labels")).get(NAMESPACE_LABEL)
            wanted = network_name(self._discovery.network, str(namespace))
            if namespace in names and network.get("Name") == wanted:
                ids.setdefault(str(namespace), set()).add(str(network.get("Id")))
        with self._lock:
            if self._writes == writes:
                self._names = frozenset(names)
                self._network_ids = {ns: frozenset(found) for ns, found in ids.items()}

    def _remember(self, namespace: str, network_id: str | None) -> None:
        with self._lock:
            self._writes += 1
            self._names = self._names | {namespace}
            if network_id is not None:
                self._network_ids = {**self._network_ids, namespace: frozenset({network_id})}

    def _forget(self, namespace: str) -> None:
        with self._lock:
            self._writes += 1
            self._names = self._names - {namespace}
            self._network_ids = {k: v for k, v in self._network_ids.items() if k != namespace}

    # The writes and the read, each on a worker thread (`engine_call`).

    async def namespace(self, name: str) -> NamespaceRecord:
        """See `NamespaceStore.namespace`: read from the config now."""
        return await engine_call(self._discovery.engine, self._read, name)

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """See `NamespaceStore.create_namespace`: its network, then its config."""
        check_record(record)
        await engine_call(self._discovery.engine, self._create, record)

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """See `NamespaceStore.update_namespace`: the config's labels, compare-and-swap."""
        check_record(record)
        await engine_call(self._discovery.engine, self._update, record)

    async def remove_namespace(self, name: str) -> None:
        """See `NamespaceStore.remove_namespace`: its config, then its network."""
        await engine_call(self._discovery.engine, self._remove, name)

    def _read(self, name: str) -> NamespaceRecord:
        config = self._config(self._discovery.client(), name)
        labels = mapping(mapping(config.get("Spec")).get("Labels"))
        return record_from_labels(name, labels)

    def _create(self, record: NamespaceRecord) -> None:
        client = self._discovery.client()
        name = record.name
        existing = self._listed_config(client, name)
        if existing is not None and _namespace_of(existing) == name:
            raise Conflict(f"namespace {name!r} already exists")
        if existing is not None:
            raise Conflict(
                f"a Docker config named {config_name(name)!r} exists that is not namespace "
                f"{name!r}'s: remove it (docker config rm) or choose another namespace name"
            )
        network_id, created = self._network(client, name)
        data = json.dumps(
            {"name": name, "labels": dict(record.labels), "annotations": dict(record.annotations)}
        ).encode()
        try:
            labels = config_labels(record)
            client.api.create_config(name=config_name(name), data=data, labels=labels)
        except docker.errors.APIError as error:
            if created:
                self._remove_network_quietly(client, network_id)
            if error.status_code == 409:
                raise Conflict(f"namespace {name!r} already exists") from None
            raise
        self._remember(name, network_id)
        log.info("created namespace %s (network %s)", name, network_id[:12])

    def _update(self, record: NamespaceRecord) -> None:
        client = self._discovery.client()
        api: Any = client.api  # the SDK has no method for it; its stubs leave these out
        for _ in range(_UPDATE_TRIES):
            config_id = str(self._config(client, record.name).get("ID"))
            config = mapping(api.inspect_config(config_id))
            # As read, its data included: only the labels may differ (the engine refuses
            # any other change).
            spec = {**mapping(config.get("Spec")), "Labels": config_labels(record)}
            version = mapping(config.get("Version")).get("Index")
            url = api._url("/configs/{0}/update", config_id)
            response = api._post_json(url, data=spec, params={"version": version})
            try:
                api._raise_for_status(response)
            except docker.errors.APIError as error:
                if "out of sequence" not in str(error.explanation or error):
                    raise
                continue
            log.info("updated namespace %s", record.name)
            return
        raise Conflict(f"namespace {record.name!r} changed while it was being updated: try again")

    def _remove(self, name: str) -> None:
        client = self._discovery.client()
        config = self._config(client, name)
        held = self._held(client, name)
        if held:
            raise Conflict(
                f"namespace {name!r} still holds {'; '.join(held)}: remove them first "
                "(faas-cli remove, faas-cli secret remove, with --namespace)"
            )
        with contextlib.suppress(docker.errors.NotFound):  # gone already: what was asked
            client.api.remove_config(str(config.get("ID")))  # type: ignore[no-untyped-call]
        self._forget(name)
        for network_id in self._own_networks(client, name):
            self._remove_network(client, name, network_id)
        log.info("removed namespace %s", name)

    def _held(self, client: docker.DockerClient, name: str) -> list[str]:
        """What `name` still holds, for a refusal: its functions and its secrets."""
        services = client.api.services()  # type: ignore[no-untyped-call]
        prefix = f"{name}_"
        functions = sorted(
            str(mapping(attrs.get("Spec")).get("Name")).removeprefix(prefix)
            for attrs in services
            if mapping(mapping(attrs.get("Spec")).get("Labels")).get(NAMESPACE_LABEL) == name
        )
        secrets = set()
        for secret in client.api.secrets(filters={"label": f"{NAMESPACE_LABEL}={name}"}):
            spec = mapping(secret.get("Spec"))
            secrets.add(str(mapping(spec.get("Labels")).get(SECRET_NAME_LABEL) or spec.get("Name")))
        held = []
        if functions:
            held.append("functions " + ", ".join(map(repr, functions)))
        if secrets:
            held.append("secrets " + ", ".join(map(repr, sorted(secrets))))
        return held

    # Engine objects.

    def _listed_config(self, client: docker.DockerClient, name: str) -> Mapping[str, Any] | None:
        """The config named for `name`, ours or not (the name filter matches substrings)."""
        wanted = config_name(name)
        listed = client.api.configs(filters={"name": wanted})  # type: ignore[no-untyped-call]
        for config in listed:
            if mapping(config.get("Spec")).get("Name") == wanted:
                return mapping(config)
        return None

    def _config(self, client: docker.DockerClient, name: str) -> Mapping[str, Any]:
        """The config of namespace `name`; `NamespaceNotFound` if none is ours."""
        config = self._listed_config(client, name) if NAMESPACE_PATTERN.fullmatch(name) else None
        if config is None or _namespace_of(config) != name:
            raise NamespaceNotFound(name, tuple(sorted(self._names)))
        return config

    def _own_networks(self, client: docker.DockerClient, name: str) -> list[str]:
        """The ids of the networks named and labelled for namespace `name`."""
        wanted = network_name(self._discovery.network, name)
        return [
            str(network.get("Id"))
            for network in client.api.networks(names=[wanted])
            if network.get("Name") == wanted
            and mapping(network.get("Labels")).get(NAMESPACE_LABEL) == name
        ]

    def _network(self, client: docker.DockerClient, name: str) -> tuple[str, bool]:
        """The id of `name`'s network, and whether it was created now (else reused)."""
        wanted = network_name(self._discovery.network, name)
        ours = self._own_networks(client, name)
        if ours:
            return ours[0], False
        listed = client.api.networks(names=[wanted])
        if any(network.get("Name") == wanted for network in listed):
            raise Conflict(
                f"a network named {wanted!r} exists that is not namespace {name!r}'s: remove "
                "it (docker network rm) or choose another namespace name"
            )
        used = [
            str(mapping(config).get("Subnet"))
            for network in client.api.networks()
            for config in mapping(network.get("IPAM")).get("Config") or []
        ]
        subnet = free_subnet(used)
        if subnet is None:
            raise Conflict(f"no free subnet left for a namespace in {NAMESPACE_SUBNETS}")
        pool = pool_config(subnet)
        ipam = docker.types.IPAMConfig(
            pool_configs=[
                docker.types.IPAMPool(
                    subnet=pool["Subnet"], iprange=pool["IPRange"], gateway=pool["Gateway"]
                )
            ]
        )
        created = client.api.create_network(
            wanted,
            driver="overlay",
            attachable=True,
            labels=_owned(name),
            check_duplicate=True,
            ipam=ipam,
        )
        return str(mapping(created).get("Id")), True

    def _remove_network(self, client: docker.DockerClient, name: str, network_id: str) -> None:
        deadline = time.monotonic() + NETWORK_REMOVE_WAIT
        while True:
            self._detach_local(client, network_id)
            try:
                client.api.remove_network(network_id)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as error:
                reason = api_error(error).message
                if "active endpoints" not in reason or time.monotonic() >= deadline:
                    log.warning(
                        "namespace %s removed, but not its network %s: %s (left for a "
                        "later cleanup of networks no namespace owns)", name, network_id, reason
                    )  # fmt: skip
                    return
            time.sleep(_NETWORK_REMOVE_STEP)

    def _detach_local(self, client: docker.DockerClient, network_id: str) -> None:
        """Disconnect this engine's containers from the network (the platform's own)."""
        try:
            attrs = client.api.inspect_network(network_id)
        except docker.errors.NotFound:
            return
        for container_id in mapping(attrs.get("Containers")):
            if str(container_id).startswith("lb-"):
                continue  # the network's own load balancer: goes with it
            try:
                client.api.disconnect_container_from_network(container_id, network_id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                log.warning("cannot detach container %s from network %s: %s",
                            container_id[:12], network_id, api_error(error).message)  # fmt: skip

    def _remove_network_quietly(self, client: docker.DockerClient, network_id: str) -> None:
        try:
            client.api.remove_network(network_id)
        except docker.errors.APIError as error:
            log.warning("cannot remove network %s: %s", network_id, api_error(error).message)
