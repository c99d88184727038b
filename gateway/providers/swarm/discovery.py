"""Docker Swarm discovery: the services on the functions network, kept in a `FunctionRegistry`.

A function is a Swarm service attached to the functions network, unless its service labels
opt it out with `com.faas.function=false` (the gateway and Prometheus do). Service labels
(in a stack file: `deploy.labels`) that the provider reads (`services`):

- `com.faas.function`: `false` / `0` / `no` / `off` (any case) means "not a function".
- `com.faas.port`: the port the watchdog listens on (default 8080; invalid values, as
  `gateway.labels.parse_port` reads them, are logged once and ignored).
- `com.docker.stack.namespace`: set by `docker stack deploy`; it becomes `Function.stack`,
  so `func_catservice` is also found as `catservice` while that is unambiguous.

Replicas are reached through `tasks.<service>` (the engine's DNS answers with every task IP;
there is no IPVS for service VIPs). A global service counts as one replica: the real count
follows the nodes, and routing only needs the DNS name. Swarm jobs are not functions:
the job services of job functions are counted by function (`RunningJobs`).

All Docker API calls of the discovery happen on two daemon threads (`SyncThreads`,
gateway.providers.swarm.sync_threads), never on the event loop or the request path; the
thread that applies the events and syncs is the only writer of the registry after
`start()`.

`SwarmProvider` is the discovery, built from parts: the threads (`SyncThreads`), the
networks functions are on (`FunctionNetworks`, gateway.providers.swarm.networks), its
management writes (`SwarmManagement`, gateway.providers.swarm.management), its secrets
(`SwarmSecrets`, gateway.providers.swarm.secret_store), its namespaces
(`SwarmNamespaces`, gateway.providers.swarm.namespace_store).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import docker

from gateway.api_types.bodies import FunctionDeployment
from gateway.namespaces import DEFAULT_NAMESPACE, NamespaceRecord
from gateway.providers.base import (
    DEFAULT_FUNCTION_PORT,
    Function,
    FunctionRegistry,
    LogLine,
    ProviderStatus,
    ReplicaTask,
)
from gateway.providers.swarm.engine import close_quietly, engine_address
from gateway.providers.swarm.jobs import RunningJobs
from gateway.providers.swarm.known import KnownServices
from gateway.providers.swarm.lease import SwarmLease
from gateway.providers.swarm.management import SwarmManagement
from gateway.providers.swarm.namespace_store import SwarmNamespaces
from gateway.providers.swarm.networks import FunctionNetworks
from gateway.providers.swarm.peers import GatewayPeers
from gateway.providers.swarm.secret_store import SwarmSecrets
from gateway.providers.swarm.services import (
    ENGINE_ERRORS,
    PORT_LABEL,
    function_from_service,
    mapping,
    opted_out,
    parse_port,
)
from gateway.providers.swarm.sync_threads import SyncThreads

log = logging.getLogger("gateway.swarm")

_API_TIMEOUT = 10


class SwarmProvider:
    """A `FunctionProvider` over the services of a Docker Swarm: discovery here, writes in
    `SwarmManagement` (see the module docstring).

    `client` defaults to `docker.from_env()`, created lazily on a background thread so that
    `start()` succeeds even while the engine is unreachable.
    """

    orchestration = "swarm"

    def __init__(
        self,
        network: str = "functions",
        resync_interval: float = 30.0,
        client: docker.DockerClient | None = None,
        default_namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.network = network
        self.default_namespace = default_namespace
        self.registry = FunctionRegistry()
        self._client = client
        self._owns_client = client is None
        self._engine = engine_address(client)
        self._client_lock = threading.Lock()
        self._sync = SyncThreads(
            self._full_sync, self._apply_event, self._get_client, self._engine, resync_interval
        )
        self._status = ProviderStatus(ready=False, detail=f"not synced yet with {self._engine}")
        # Only touched by whichever thread syncs (`SyncThreads`).
        self._names_by_id: dict[str, str] = {}
        self._jobs = RunningJobs()
        self._known = KnownServices()
        self._engine_failing = False
        self._warned: set[tuple[str, str]] = set()
        self._management = SwarmManagement(self)
        self._secrets = SwarmSecrets(self)
        self._namespaces = SwarmNamespaces(self)
        self._networks = FunctionNetworks(network, self._namespaces, self._engine)
        self._peers = GatewayPeers(self)

    @property
    def resync_interval(self) -> float:
        """Seconds between full syncs."""
        return self._sync.resync_interval

    async def start(self) -> None:
        """Sync once (never raising: failures show in `status()`), then follow the engine."""
        await self._sync.start()

    async def close(self) -> None:
        """Stop both threads (closing the events stream) and the client if we made it."""
        if self._sync.stopped:
            return
        await self._sync.stop()
        if self._owns_client and self._client is not None:
            await asyncio.to_thread(close_quietly, self._client)

    async def refresh(self) -> None:
        """See `FunctionProvider.refresh`: a full sync on the sync thread (the registry's
        one writer), waited for a bounded time (`SyncThreads.refresh`). The engine's
        writes are linearizable, so a sync that starts after a write answered sees it,
        whichever process or gateway container wrote."""
        await self._sync.refresh()

    def lookup(self, name: str) -> Function | None:
        """See `FunctionProvider.lookup`."""
        return self.registry.lookup(name)

    def functions(self) -> Sequence[Function]:
        """See `FunctionProvider.functions`."""
        return self.registry.all()

    def by_domain(self, host: str) -> Function | None:
        """See `FunctionView.by_domain`."""
        return self.registry.by_domain(host)

    def running_jobs(self) -> Mapping[str, int]:
        """See `FunctionProvider.running_jobs`: from the view, as the functions are."""
        return self._jobs.by_function()

    def status(self) -> ProviderStatus:
        """Ready once a full sync has succeeded, until the engine fails again."""
        return self._status

    # Management operations: `SwarmManagement` (gateway.providers.swarm.management).

    async def available_replicas(self) -> Mapping[str, int]:
        """See `FunctionProvider.available_replicas`: tasks in state running, per service."""
        return await self._management.available_replicas()

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask]:
        """See `FunctionProvider.replica_tasks`: the service's tasks, their state, error
        and address on the functions network (one engine call)."""
        return await self._management.replica_tasks(name)

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.deploy`."""
        await self._management.deploy(deployment)

    async def update(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.update`: only for services the API created."""
        await self._management.update(deployment)

    async def remove(self, name: str) -> None:
        """See `FunctionProvider.remove`."""
        await self._management.remove(name)

    async def scale(self, name: str, replicas: int) -> None:
        """See `FunctionProvider.scale`."""
        await self._management.scale(name, replicas)

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """See `FunctionProvider.set_traffic`: labels of the function's own service."""
        await self._management.set_traffic(name, weights, canary)

    async def update_state(self, name: str) -> str:
        """See `FunctionProvider.update_state`: the service's `UpdateStatus.State`."""
        return await self._management.update_state(name)

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """See `FunctionProvider.logs`: the service's logs (json-file or journald driver)."""
        return await self._management.logs(name, since, tail)

    # Secrets: `SwarmSecrets` (gateway.providers.swarm.secret_store).

    async def secret_names(self, namespace: str | None = None) -> Sequence[str]:
        """See `SecretStore.secret_names`: the Docker secrets labelled as the API's."""
        return await self._secrets.secret_names(namespace)

    async def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> None:
        """See `SecretStore.create_secret`."""
        await self._secrets.create_secret(name, value, namespace)

    async def update_secret(
        self, name: str, value: bytes, namespace: str | None = None
    ) -> Sequence[str]:
        """See `SecretStore.update_secret`: a new version, and the functions rolled onto it."""
        return await self._secrets.update_secret(name, value, namespace)

    async def remove_secret(self, name: str, namespace: str | None = None) -> None:
        """See `SecretStore.remove_secret`."""
        await self._secrets.remove_secret(name, namespace)

    # Namespaces: `SwarmNamespaces` (gateway.providers.swarm.namespace_store).

    def namespace_names(self) -> Collection[str]:
        """See `NamespaceStore.namespace_names`: their configs' names, as last synced."""
        return self._namespaces.names()

    def namespace_network_ids(self) -> Mapping[str, frozenset[str]]:
        """The ids of each namespace's network, as last synced (no I/O)."""
        return self._namespaces.network_ids()

    async def namespace(self, name: str) -> NamespaceRecord:
        """See `NamespaceStore.namespace`: its config's labels, read now."""
        return await self._namespaces.namespace(name)

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """See `NamespaceStore.create_namespace`: its network, then its config."""
        await self._namespaces.create_namespace(record)

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """See `NamespaceStore.update_namespace`: its config's labels."""
        await self._namespaces.update_namespace(record)

    async def remove_namespace(self, name: str) -> None:
        """See `NamespaceStore.remove_namespace`: its config, then its network."""
        await self._namespaces.remove_namespace(name)

    async def gateway_addresses(self) -> Sequence[str] | None:
        """See `FunctionProvider.gateway_addresses`: the running tasks of this gateway's
        own service (`GatewayPeers`)."""
        return await self._peers.addresses()

    def lease(self, term: float, service: str | None = None) -> SwarmLease:
        """The autoscaler's cluster-wide lease, on this provider's engine (see `SwarmLease`)."""
        return SwarmLease(self._get_client, term=term, service=service)

    # What management asks of discovery.

    def client(self) -> docker.DockerClient:
        """The Docker client (created on first use, on the calling thread)."""
        return self._get_client()

    @property
    def engine(self) -> str:
        """The engine's address, for messages."""
        return self._engine

    def names_by_id(self) -> dict[str, str]:
        """Function names by service id (a copy: the sync thread owns the original)."""
        return self._names_by_id.copy()  # atomic under the GIL

    def network_of(self, namespace: str | None) -> str:
        """The network a function of `namespace` (None: the default) is attached to."""
        return self._networks.network_of(namespace)

    def network_ids(self) -> frozenset[str]:
        """The functions network's ids (and the namespaces' networks'), as last read."""
        return self._networks.ids()

    def is_function(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a service's attrs describe a function on the functions network (or a
        namespace's)."""
        found = function_from_service(
            attrs, self.network, self._networks.ids(), self.default_namespace
        )
        return found is not None

    def reread(self, service_id: str) -> None:
        """Have the sync thread re-read a service the API just changed."""
        self._sync.put({"Action": "update", "Actor": {"ID": service_id}})

    def forget_service(self, service_id: str) -> None:
        """Have the sync thread drop a service the API just removed."""
        self._sync.put({"Action": "remove", "Actor": {"ID": service_id}})

    def _get_client(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                self._client = docker.from_env(timeout=_API_TIMEOUT)
            return self._client

    # The view, on the sync thread (`SyncThreads`).

    def _full_sync(self) -> bool:
        try:
            client = self._get_client()
            self._networks.refresh(client)
            # The plain list: the SDK's `services.list()` wraps each in a model object.
            services: list[dict[str, Any]] = client.api.services()  # type: ignore[no-untyped-call]
        except ENGINE_ERRORS as exc:
            self._engine_failed(exc)
            return False
        names_by_id: dict[str, str] = {}
        functions: list[Function] = []
        self._jobs.replace_all(services)
        for attrs in services:
            function = self._known.read(attrs, self._networks.ids(), self._to_function)
            if function is not None:
                names_by_id[str(attrs.get("ID"))] = function.name
                functions.append(function)
        self._known.keep_only([str(attrs.get("ID")) for attrs in services])
        del services  # before the registry's swap: the listing's peak, not on top of it
        self._networks.join(client, functions, leave_orphans=True)
        self.registry.replace_all(functions)
        self._names_by_id = names_by_id
        self._engine_ok(len(functions))
        return True

    def _apply_event(self, event: Mapping[str, Any]) -> bool:
        action = event.get("Action")
        service_id = str(mapping(event.get("Actor")).get("ID", ""))
        if action == "remove":
            self._jobs.gone(service_id)
            self._forget(service_id)
            return True
        if action not in ("create", "update") or not service_id:
            return True
        try:
            client = self._get_client()
            # types-docker leaves ServiceCollection.get unannotated.
            attrs = client.services.get(service_id).attrs  # type: ignore[no-untyped-call]
            self._jobs.seen(service_id, attrs)
            function = self._to_function(attrs)
            # An opted-out service (the gateway's own, updated on every renewal of the
            # autoscaler's lease) is never a function: no network refresh for it.
            if function is None and not opted_out(attrs):
                # The functions network may have been created (or re-created) since we looked.
                self._networks.refresh(client)
                function = self._to_function(attrs)
        except docker.errors.NotFound:
            self._jobs.gone(service_id)
            self._forget(service_id)
            return True
        except ENGINE_ERRORS as exc:
            self._engine_failed(exc)
            return False
        if function is None:
            self._forget(service_id)
            return True
        self._known.forget(service_id)  # the next full sync reads it anew
        previous = self._names_by_id.get(service_id)
        if previous is not None and previous != function.name:
            self.registry.remove(previous)
        self._names_by_id[service_id] = function.name
        self._networks.join(client, [function])
        self.registry.upsert(function)
        return True

    def _forget(self, service_id: str) -> None:
        self._known.forget(service_id)
        name = self._names_by_id.pop(service_id, None)
        if name is not None:
            self.registry.remove(name)

    def _to_function(self, attrs: Mapping[str, Any]) -> Function | None:
        function = function_from_service(
            attrs, self.network, self._networks.ids(), self.default_namespace
        )
        if function is not None:
            self._check_port_label(function)
        return function

    def _check_port_label(self, function: Function) -> None:
        port = function.labels.get(PORT_LABEL)
        if port is None or parse_port(port) is not None or (function.name, port) in self._warned:
            return
        self._warned.add((function.name, port))  # once, not on every resync
        log.warning(
            "service %s: invalid %s label %r; using port %d",
            function.name,
            PORT_LABEL,
            port,
            DEFAULT_FUNCTION_PORT,
        )

    def _engine_ok(self, count: int) -> None:
        if self._engine_failing or not self._status.ready:
            log.info("synced with %s: %d function(s)", self._engine, count)
        self._engine_failing = False
        detail = f"following the Docker engine at {self._engine}"
        if self._networks.missing:
            detail = f"network {self.network!r} not found yet on {self._engine}: no functions"
        self._status = ProviderStatus(ready=True, detail=detail)

    def _engine_failed(self, exc: BaseException) -> None:
        detail = f"cannot reach the Docker engine at {self._engine}: {exc}"
        # Reasons can differ on every attempt (object addresses), so log state changes only.
        if not self._engine_failing:
            log.warning("%s (retrying in the background)", detail)
        self._engine_failing = True
        self._status = ProviderStatus(ready=False, detail=detail)
