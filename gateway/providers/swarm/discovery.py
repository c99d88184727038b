"""Docker Swarm discovery: the services on the functions network, kept in a `FunctionRegistry`.

A function is a Swarm service attached to the functions network, unless its service labels
opt it out with `com.faas.function=false` (the gateway and Prometheus do). Service labels
(in a stack file: `deploy.labels`) that the provider reads (`services`):

- `com.faas.function`: `false` / `0` / `no` / `off` (any case) means "not a function".
- `com.faas.port`: the port the watchdog listens on (default 8080; invalid values, as
  `gateway.labels.parse_port` reads them, are logged once and ignored).
- `com.docker.stack.namespace`: set by `docker stack deploy`; it becomes `Function.stack`,
  so `func_catservice` is also found as `catservice` while that is unambiguous.

Kept whole on purpose (a little over the ~450 lines modules keep to): the events thread,
the periodic resync, the refreshes of management reads and the engine's up/down state
share one handoff queue and read best together; the management writes live apart in
`management.py`, the engine helpers in `engine.py`.

Replicas are reached through `tasks.<service>` (the engine's DNS answers with every task IP;
there is no IPVS for service VIPs). A global service counts as one replica: the real count
follows the nodes, and routing only needs the DNS name. Swarm jobs are not functions:
the job services of job functions are counted by function (`RunningJobs`).

All Docker API calls happen on two daemon threads, never on the event loop or the request
path: one follows the engine's service events, the other applies them (re-reading the
service, so a late or duplicate event is harmless) and does a full resync every
`resync_interval` seconds and whenever the events stream reconnects. That second thread
is the only writer of the registry after `start()`.

`SwarmProvider` is the discovery; its management writes are delegated to
`SwarmManagement` (`gateway.providers.swarm.management`), its secrets to `SwarmSecrets`
(`gateway.providers.swarm.secret_store`), its namespaces to `SwarmNamespaces`
(`gateway.providers.swarm.namespace_store`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import queue
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import docker
from docker.types.daemon import CancellableStream

from gateway.api_types.bodies import FunctionDeployment
from gateway.namespaces import DEFAULT_NAMESPACE, NAMESPACE_LABEL, NamespaceRecord
from gateway.providers.base import (
    DEFAULT_FUNCTION_PORT,
    Function,
    FunctionRegistry,
    LogLine,
    ProviderStatus,
    ReplicaTask,
    engine_time,
)
from gateway.providers.swarm.attach import OwnNetworks
from gateway.providers.swarm.engine import close_quietly, engine_address
from gateway.providers.swarm.jobs import RunningJobs
from gateway.providers.swarm.known import KnownServices
from gateway.providers.swarm.lease import SwarmLease
from gateway.providers.swarm.management import SwarmManagement
from gateway.providers.swarm.namespace_store import SwarmNamespaces, network_name
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

log = logging.getLogger("gateway.swarm")

_API_TIMEOUT = 10
_RETRY_MIN = 0.5
_RETRY_MAX = 5.0
_JOIN_TIMEOUT = 5.0
# A namespace's network with no record for this long is a removed namespace's.
ORPHAN_AFTER = 60.0
# How long a management read waits for its refresh before answering from the view.
_REFRESH_TIMEOUT = 10.0

_Event = dict[str, Any]


class _Signal(enum.Enum):
    RESYNC = "resync"
    STOP = "stop"


# A read that must see every write made before it: a full sync on the sync thread, done
# when the future is (True: synced; False: the engine failed, the view is as it was).
_SyncNow = concurrent.futures.Future


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
        self.resync_interval = resync_interval
        self.registry = FunctionRegistry()
        self._client = client
        self._owns_client = client is None
        self._engine = engine_address(client)
        self._client_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Signal | _Event | _SyncNow[bool]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._stream: CancellableStream[_Event] | None = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._status = ProviderStatus(ready=False, detail=f"not synced yet with {self._engine}")
        # Only touched by whichever thread syncs: `_bootstrap`, then `_work`.
        self._network_ids: frozenset[str] = frozenset()
        self._network_missing: bool | None = None
        self._namespace_networks: dict[str, str] = {}  # namespace: its network's id
        self._own_networks = OwnNetworks(network)
        self._orphans: dict[str, str] = {}  # network id: namespace (removed)
        self._names_by_id: dict[str, str] = {}
        self._jobs = RunningJobs()
        self._known = KnownServices()
        self._engine_failing = False
        self._warned: set[tuple[str, str]] = set()
        self._management = SwarmManagement(self)
        self._secrets = SwarmSecrets(self)
        self._namespaces = SwarmNamespaces(self)
        self._peers = GatewayPeers(self)

    async def start(self) -> None:
        """Sync once (never raising: failures show in `status()`), then follow the engine."""
        if self._threads or self._stopping.is_set():
            return
        await asyncio.to_thread(self._bootstrap)
        self._threads = [
            threading.Thread(target=self._work, name="swarm-sync", daemon=True),
            threading.Thread(target=self._follow_events, name="swarm-events", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    async def close(self) -> None:
        """Stop both threads (closing the events stream) and the client if we made it."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._queue.put(_Signal.STOP)
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(close_quietly, stream)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, _JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("thread %s still busy with the Docker engine; leaving it", thread.name)
        if self._owns_client and self._client is not None:
            await asyncio.to_thread(close_quietly, self._client)

    async def refresh(self) -> None:
        """See `FunctionProvider.refresh`: a full sync on the sync thread (the registry's
        one writer), waited for at most `_REFRESH_TIMEOUT`. The engine's writes are
        linearizable, so a sync that starts after a write answered sees it, whichever
        process or gateway container wrote."""
        if not self._threads or self._stopping.is_set():
            return
        done: _SyncNow[bool] = concurrent.futures.Future()
        self._queue.put(done)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), _REFRESH_TIMEOUT)
        except TimeoutError:
            log.warning("a refresh from %s took over %gs; answering from the view as it is",
                        self._engine, _REFRESH_TIMEOUT)  # fmt: skip

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
        return network_name(self.network, namespace) if namespace else self.network

    def network_ids(self) -> frozenset[str]:
        """The functions network's ids, as last read."""
        return self._network_ids

    def is_function(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a service's attrs describe a function on the functions network (or a
        namespace's)."""
        found = function_from_service(
            attrs, self.network, self._network_ids, self.default_namespace
        )
        return found is not None

    def reread(self, service_id: str) -> None:
        """Have the sync thread re-read a service the API just changed."""
        self._queue.put({"Action": "update", "Actor": {"ID": service_id}})

    def forget_service(self, service_id: str) -> None:
        """Have the sync thread drop a service the API just removed."""
        self._queue.put({"Action": "remove", "Actor": {"ID": service_id}})

    # Background work.

    def _bootstrap(self) -> None:
        # The stream opens first so that nothing can change unseen between it and the sync.
        self._open_stream()
        self._full_sync()

    def _work(self) -> None:
        retry = _RETRY_MIN
        next_sync = time.monotonic() + (self.resync_interval if self._status.ready else retry)
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_sync - time.monotonic()))
            except queue.Empty:
                item = _Signal.RESYNC
            if item is _Signal.STOP:
                return
            try:
                if isinstance(item, concurrent.futures.Future):
                    waiting, stop = self._take_queued(item)
                    ok = False
                    try:
                        ok = self._full_sync()
                    finally:
                        for future in waiting:
                            future.set_result(ok)
                    if stop:
                        return
                else:
                    ok = self._full_sync() if item is _Signal.RESYNC else self._apply_event(item)
            except Exception:
                log.exception("unexpected error while syncing with %s", self._engine)
                ok = False
            if ok and item is _Signal.RESYNC:
                retry = _RETRY_MIN
                next_sync = time.monotonic() + self.resync_interval
            elif not ok:
                next_sync = time.monotonic() + min(retry, self.resync_interval)
                retry = min(retry * 2, _RETRY_MAX)

    def _take_queued(self, first: _SyncNow[bool]) -> tuple[list[_SyncNow[bool]], bool]:
        """Every refresh already queued behind `first`, to be answered by one full sync
        (a burst of management writes costs one listing, not one each), and whether a
        stop was queued. The events and resyncs taken with them are what that sync reads
        anyway."""
        waiting, stop = [first], False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return waiting, stop
            if isinstance(item, concurrent.futures.Future):
                waiting.append(item)
            elif item is _Signal.STOP:
                stop = True

    def _follow_events(self) -> None:
        retry = _RETRY_MIN
        with self._stream_lock:
            stream = self._stream
        while not self._stopping.is_set():
            if stream is None:
                stream = self._open_stream()
                if stream is None:
                    self._stopping.wait(retry)
                    retry = min(retry * 2, _RETRY_MAX)
                    continue
                log.info("following service events from %s", self._engine)
                self._queue.put(_Signal.RESYNC)  # for whatever happened while disconnected
                retry = _RETRY_MIN
            try:
                for event in stream:
                    self._queue.put(event)
            except ENGINE_ERRORS as exc:
                log.debug("events stream failed: %s", exc)
            close_quietly(stream)
            stream = None
            if not self._stopping.is_set():
                log.warning("lost the service events stream from %s; reconnecting", self._engine)
                self._queue.put(_Signal.RESYNC)  # so that status() soon tells if the engine is gone
                self._stopping.wait(retry)

    def _open_stream(self) -> CancellableStream[_Event] | None:
        try:
            stream = self._get_client().events(decode=True, filters={"type": "service"})
        except ENGINE_ERRORS as exc:
            log.debug("cannot open the events stream: %s", exc)
            return None
        with self._stream_lock:
            if self._stopping.is_set():
                close_quietly(stream)
                return None
            self._stream = stream
        return stream

    def _get_client(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                self._client = docker.from_env(timeout=_API_TIMEOUT)
            return self._client

    def _full_sync(self) -> bool:
        try:
            client = self._get_client()
            self._refresh_network(client)
            # The plain list: the SDK's `services.list()` wraps each in a model object.
            services: list[dict[str, Any]] = client.api.services()  # type: ignore[no-untyped-call]
        except ENGINE_ERRORS as exc:
            self._engine_failed(exc)
            return False
        names_by_id: dict[str, str] = {}
        functions: list[Function] = []
        self._jobs.replace_all(services)
        for attrs in services:
            function = self._known.read(attrs, self._network_ids, self._to_function)
            if function is not None:
                names_by_id[str(attrs.get("ID"))] = function.name
                functions.append(function)
        self._known.keep_only([str(attrs.get("ID")) for attrs in services])
        del services  # before the registry's swap: the listing's peak, not on top of it
        self._join(client, functions, self._orphans)
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
                self._refresh_network(client)
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
        self._join(client, [function])
        self.registry.upsert(function)
        return True

    def _forget(self, service_id: str) -> None:
        self._known.forget(service_id)
        name = self._names_by_id.pop(service_id, None)
        if name is not None:
            self.registry.remove(name)

    def _join(
        self,
        client: docker.DockerClient,
        functions: Sequence[Function],
        orphans: Mapping[str, str] | None = None,
    ) -> None:
        """Be on the networks of the namespaces `functions` are in before routing to them
        (`OwnNetworks`), and off `orphans`. A namespace with no function yet is not
        joined: its network, had a gateway joined it, outlived a removal on this engine."""
        occupied = {function.namespace for function in functions if function.namespace}
        networks = self._namespace_networks
        wanted = {ns: networks[ns] for ns in occupied if ns in networks}
        self._own_networks.ensure(client, wanted, orphans)

    def _refresh_network(self, client: docker.DockerClient) -> None:
        # The name filter matches substrings, hence the exact comparison.
        found = frozenset(
            str(network.id)
            for network in client.networks.list(names=[self.network])
            if network.name == self.network
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
        self._namespace_networks = {ns: nid for nid, ns in labelled.items() if ns in names}
        missing = not found
        found |= frozenset(self._namespace_networks.values())
        # Not one made a moment ago: its namespace's config is written just after it.
        settled = time.time() - ORPHAN_AFTER
        orphans = {
            network_id: namespace
            for network in namespaced
            if (namespace := labelled[network_id := str(network.get("Id"))]) not in names
            and (engine_time(str(network.get("Created", ""))) or (0, 0))[0] < settled
        }
        self._orphans = orphans
        if missing and self._network_missing is not True:
            log.warning(
                "network %r not found on %s: no functions until it exists "
                "(the stack creates it); checking again on every resync",
                self.network,
                self._engine,
            )
        elif not missing and self._network_missing:
            log.info("network %r found", self.network)
        self._network_ids, self._network_missing = found, missing

    def _to_function(self, attrs: Mapping[str, Any]) -> Function | None:
        function = function_from_service(
            attrs, self.network, self._network_ids, self.default_namespace
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
        if self._network_missing:
            detail = f"network {self.network!r} not found yet on {self._engine}: no functions"
        self._status = ProviderStatus(ready=True, detail=detail)

    def _engine_failed(self, exc: BaseException) -> None:
        detail = f"cannot reach the Docker engine at {self._engine}: {exc}"
        # Reasons can differ on every attempt (object addresses), so log state changes only.
        if not self._engine_failing:
            log.warning("%s (retrying in the background)", detail)
        self._engine_failing = True
        self._status = ProviderStatus(ready=False, detail=detail)
