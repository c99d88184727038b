"""Docker Swarm discovery: the services on the functions network, kept in a `FunctionRegistry`.

A function is a Swarm service attached to the functions network, unless its service labels
opt it out with `com.faas.function=false` (the gateway and Prometheus do). Service labels
(in a stack file: `deploy.labels`) that the provider reads:

- `com.faas.function`: `false` / `0` / `no` / `off` (any case) means "not a function".
- `com.faas.port`: the port the watchdog listens on (default 8080; invalid values are logged
  once and ignored).
- `com.docker.stack.namespace`: set by `docker stack deploy`; it becomes `Function.namespace`,
  so `func_catservice` is also found as `catservice` while that is unambiguous.

Replicas are reached through `tasks.<service>` (the engine's DNS answers with every task IP;
there is no IPVS for service VIPs). A global service counts as one replica: the real count
follows the nodes, and routing only needs the DNS name. Swarm jobs are not functions.

All Docker API calls happen on two daemon threads, never on the event loop or the request
path: one follows the engine's service events, the other applies them (re-reading the
service, so a late or duplicate event is harmless) and does a full resync every
`resync_interval` seconds and whenever the events stream reconnects. That second thread
is the only writer of the registry after `start()`.

The management API's write operations (`deploy`, `update`, `remove`, `scale`) call the
engine on a worker thread (`asyncio.to_thread`) and then queue the service for that
thread to re-read, so the registry follows at once without waiting for the event.
Services they create are always attached to the functions network with `dnsrr`
endpoints, labelled `com.faas.managed=true`, roll with `start-first` updates, and get
nothing beyond the `FunctionDeployment` fields: no mounts but an optional `/tmp` tmpfs,
no capabilities, no published ports, never the Docker socket.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types
from docker.models.services import Service
from docker.types.daemon import CancellableStream

from gateway.errors import (
    BadRequest,
    Conflict,
    FunctionNotFound,
    GatewayError,
    OrchestratorError,
    ProviderUnavailable,
)
from gateway.management.deployments import ANNOTATION_PREFIX, MANAGED_LABEL, FunctionDeployment
from gateway.management.logs import LogLine, parse_engine_logs
from gateway.providers.base import DEFAULT_FUNCTION_PORT, Function, FunctionRegistry, ProviderStatus

log = logging.getLogger("gateway.swarm")

FUNCTION_LABEL = "com.faas.function"
PORT_LABEL = "com.faas.port"
NAMESPACE_LABEL = "com.docker.stack.namespace"
PROCESS_ENV = "fprocess"

_OPT_OUT_VALUES = frozenset({"false", "0", "no", "off"})
# requests' ConnectionError (engine down) is an OSError; the SDK's own errors are DockerException.
_ENGINE_ERRORS = (docker.errors.DockerException, OSError)
_API_TIMEOUT = 10
_RETRY_MIN = 0.5
_RETRY_MAX = 5.0
_JOIN_TIMEOUT = 5.0

_Event = dict[str, Any]
T = TypeVar("T")


class _Signal(enum.Enum):
    RESYNC = "resync"
    STOP = "stop"


def parse_port(value: str | None) -> int | None:
    """A TCP port from a label value, or None if it is missing or not a valid port."""
    if value is None or not value.strip().isdigit():
        return None
    port = int(value)
    return port if 0 < port < 65536 else None


def function_from_service(
    attrs: Mapping[str, Any], network: str, network_ids: Collection[str] = ()
) -> Function | None:
    """The function described by a service's attrs (`docker service inspect`), or None.

    A service is a function when one of its network attachments targets `network` (by name)
    or one of `network_ids`, and its labels do not opt it out.
    """
    spec = _mapping(attrs.get("Spec"))
    name = spec.get("Name")
    labels = {str(key): str(value) for key, value in _mapping(spec.get("Labels")).items()}
    if not isinstance(name, str) or not name or _opted_out(labels):
        return None
    template = _mapping(spec.get("TaskTemplate"))
    # Spec.Networks is the deprecated place for attachments; the engine still accepts it.
    attachments = template.get("Networks") or spec.get("Networks") or []
    targets = {_mapping(attachment).get("Target") for attachment in attachments}
    if not targets & {network, *network_ids}:
        return None
    replicas = _replicas(_mapping(spec.get("Mode")))
    if replicas is None:
        return None
    container = _mapping(template.get("ContainerSpec"))
    return Function(
        name=name,
        image=str(container.get("Image", "")).split("@", 1)[0],
        replicas=replicas,
        upstream_host=f"tasks.{name}",
        upstream_port=parse_port(labels.get(PORT_LABEL)) or DEFAULT_FUNCTION_PORT,
        namespace=labels.get(NAMESPACE_LABEL) or None,
        labels=labels,
        env_process=_env_value(container.get("Env"), PROCESS_ENV),
    )


class SwarmProvider:
    """A `FunctionProvider` over the services of a Docker Swarm (see the module docstring).

    `client` defaults to `docker.from_env()`, created lazily on a background thread so that
    `start()` succeeds even while the engine is unreachable.
    """

    orchestration = "swarm"

    def __init__(
        self,
        network: str = "functions",
        resync_interval: float = 30.0,
        client: docker.DockerClient | None = None,
    ) -> None:
        self.network = network
        self.resync_interval = resync_interval
        self.registry = FunctionRegistry()
        self._client = client
        self._owns_client = client is None
        self._engine = _engine_address(client)
        self._client_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Signal | _Event] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._stream: CancellableStream[_Event] | None = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._status = ProviderStatus(ready=False, detail=f"not synced yet with {self._engine}")
        # Only touched by whichever thread syncs: `_bootstrap`, then `_work`.
        self._network_ids: frozenset[str] = frozenset()
        self._network_missing: bool | None = None
        self._names_by_id: dict[str, str] = {}
        self._engine_failing = False
        self._warned: set[tuple[str, str]] = set()

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
            await asyncio.to_thread(_close_quietly, stream)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, _JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("thread %s still busy with the Docker engine; leaving it", thread.name)
        if self._owns_client and self._client is not None:
            await asyncio.to_thread(_close_quietly, self._client)

    def lookup(self, name: str) -> Function | None:
        """See `FunctionProvider.lookup`."""
        return self.registry.lookup(name)

    def functions(self) -> Sequence[Function]:
        """See `FunctionProvider.functions`."""
        return self.registry.all()

    def status(self) -> ProviderStatus:
        """Ready once a full sync has succeeded, until the engine fails again."""
        return self._status

    # Management operations (each runs on a worker thread, see `_engine_call`).

    async def available_replicas(self) -> Mapping[str, int]:
        """See `FunctionProvider.available_replicas`: tasks in state running, per service."""
        return await self._engine_call(self._count_running_tasks)

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.deploy`."""
        await self._engine_call(self._create_service, deployment)

    async def update(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.update`: only for services the API created."""
        await self._engine_call(self._update_service, deployment)

    async def remove(self, name: str) -> None:
        """See `FunctionProvider.remove`."""
        await self._engine_call(self._remove_service, name)

    async def scale(self, name: str, replicas: int) -> None:
        """See `FunctionProvider.scale`."""
        await self._engine_call(self._scale_service, name, replicas)

    async def update_state(self, name: str) -> str:
        """See `FunctionProvider.update_state`: the service's `UpdateStatus.State`."""
        return await self._engine_call(self._read_update_state, name)

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """See `FunctionProvider.logs`: the service's logs (json-file or journald driver)."""
        return await self._engine_call(self._read_logs, name, since, tail)

    async def _engine_call(self, operation: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(operation, *args)
        except GatewayError:
            raise
        except docker.errors.APIError as error:
            raise _api_error(error) from None
        except _ENGINE_ERRORS as error:
            raise ProviderUnavailable(
                f"cannot reach the Docker engine at {self._engine}: {error}"
            ) from None

    def _count_running_tasks(self) -> dict[str, int]:
        names_by_id = self._names_by_id.copy()  # atomic under the GIL; the sync thread owns it
        counts: dict[str, int] = {}
        client = self._get_client()
        # types-docker leaves these SDK methods unannotated (here and below).
        tasks = client.api.tasks(filters={"desired-state": "running"})  # type: ignore[no-untyped-call]
        for task in tasks:
            name = names_by_id.get(str(task.get("ServiceID")))
            if name is not None and _mapping(task.get("Status")).get("State") == "running":
                counts[name] = counts.get(name, 0) + 1
        return counts

    def _create_service(self, deployment: FunctionDeployment) -> None:
        client = self._get_client()
        if self._services_named(client, deployment.service):
            raise Conflict(
                f"function {deployment.service!r} already exists "
                "(update it with PUT /system/functions, or remove it first)"
            )
        service = client.services.create(  # type: ignore[no-untyped-call]
            deployment.image,
            name=deployment.service,
            mode=docker.types.ServiceMode("replicated", 1),
            **self._service_options(client, deployment),
        )
        self._resync_service(str(service.id))

    def _update_service(self, deployment: FunctionDeployment) -> None:
        client = self._get_client()
        service = self._function_service(client, deployment.service)
        labels = _mapping(_mapping(service.attrs.get("Spec")).get("Labels"))
        if labels.get(MANAGED_LABEL) != "true":
            raise Conflict(
                f"function {service.name!r} was not deployed through the management API "
                f"(no {MANAGED_LABEL}=true label): update it where it was defined"
            )
        # force_update: a PUT always rolls the tasks, even for an unchanged `:latest` tag.
        service.update(  # type: ignore[no-untyped-call]
            image=deployment.image,
            force_update=True,
            **self._service_options(client, deployment),
        )
        self._resync_service(str(service.id))

    def _remove_service(self, name: str) -> None:
        service = self._function_service(self._get_client(), name)
        try:
            service.remove()  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            raise FunctionNotFound(name) from None
        self._queue.put({"Action": "remove", "Actor": {"ID": str(service.id)}})

    def _read_update_state(self, name: str) -> str:
        service = self._function_service(self._get_client(), name)
        return str(_mapping(service.attrs.get("UpdateStatus")).get("State") or "")

    def _read_logs(self, name: str, since: str | None, tail: int | None) -> list[LogLine]:
        client = self._get_client()
        service = self._function_service(client, name)
        options: dict[str, Any] = {"tail": "all" if tail is None else tail}
        if since is not None:
            options["since"] = since
        raw = b"".join(
            client.api.service_logs(
                service.id,
                details=True,
                stdout=True,
                stderr=True,
                timestamps=True,
                is_tty=False,
                **options,
            )
        )
        return parse_engine_logs(raw, str(service.name))

    def _scale_service(self, name: str, replicas: int) -> None:
        client = self._get_client()
        service = self._function_service(client, name)
        spec = _mapping(service.attrs.get("Spec"))
        if "Replicated" not in _mapping(spec.get("Mode")):
            raise BadRequest(f"function {service.name!r} is a global service: it cannot be scaled")
        # The spec goes back exactly as read, only the count changed. The SDK's
        # `service.scale()` fills in defaults (StopGracePeriod, RestartPolicy) that Swarm
        # takes for a new task template, and replaces every running task: a scale-down
        # then left a function with no replica for seconds.
        client.api.update_service(
            service.id,
            service.version,
            task_template=spec.get("TaskTemplate"),
            name=spec.get("Name"),
            labels=spec.get("Labels"),
            mode={"Replicated": {"Replicas": replicas}},
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            networks=spec.get("Networks"),
            endpoint_spec=spec.get("EndpointSpec"),
        )
        self._resync_service(str(service.id))

    def _resync_service(self, service_id: str) -> None:
        self._queue.put({"Action": "update", "Actor": {"ID": service_id}})

    def _services_named(self, client: docker.DockerClient, name: str) -> list[Service]:
        # The name filter matches prefixes, hence the exact comparison.
        return [s for s in client.services.list(filters={"name": name}) if s.name == name]

    def _function_service(self, client: docker.DockerClient, name: str) -> Service:
        """The service of a function by full name (or registry short name), else 404.

        Services that are not functions (the gateway, Prometheus, anything off the
        functions network) are never found here, so the API cannot touch them.
        """
        services = self._services_named(client, name)
        if not services:
            known = self.registry.lookup(name)
            if known is not None:
                services = self._services_named(client, known.name)
        for service in services:
            if function_from_service(service.attrs, self.network, self._network_ids):
                return service
        raise FunctionNotFound(name)

    def _service_options(
        self, client: docker.DockerClient, deployment: FunctionDeployment
    ) -> dict[str, Any]:
        env = {**deployment.env_vars}
        if deployment.env_process is not None:
            env[PROCESS_ENV] = deployment.env_process
        labels = {
            **deployment.labels,
            **{ANNOTATION_PREFIX + key: value for key, value in deployment.annotations.items()},
            MANAGED_LABEL: "true",
        }
        options: dict[str, Any] = {
            "env": [f"{key}={value}" for key, value in env.items()],
            "labels": labels,
            "networks": [self.network],
            "endpoint_spec": docker.types.EndpointSpec(mode="dnsrr"),
            # One task at a time, the new one healthy before the old one stops.
            "update_config": docker.types.UpdateConfig(
                parallelism=1, order="start-first", failure_action="rollback"
            ),
            "constraints": list(deployment.constraints),
            "secrets": [self._secret_reference(client, name) for name in deployment.secrets],
            "read_only": deployment.read_only_root_filesystem,
            "mounts": [],
        }
        if deployment.read_only_root_filesystem:
            # The watchdog writes its lock file (and processes their temp files) in /tmp.
            options["mounts"] = [docker.types.Mount(target="/tmp", source="", type="tmpfs")]
        limits, requests = deployment.limits, deployment.requests
        # Always sent, 0 meaning none: an update replaces the definition, and the SDK
        # would keep the old limits if the field were left out.
        options["resources"] = docker.types.Resources(
            cpu_limit=_nano_cpus(limits.cpus if limits else None) or 0,
            mem_limit=(limits.memory if limits else None) or 0,
            cpu_reservation=_nano_cpus(requests.cpus if requests else None) or 0,
            mem_reservation=(requests.memory if requests else None) or 0,
        )
        return options

    def _secret_reference(
        self, client: docker.DockerClient, name: str
    ) -> docker.types.SecretReference:
        for secret in client.secrets.list(filters={"name": name}):
            if secret.name == name:
                return docker.types.SecretReference(str(secret.id), name)
        raise BadRequest(f"secrets: no Docker secret named {name!r} (docker secret create)")

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
            except _ENGINE_ERRORS as exc:
                log.debug("events stream failed: %s", exc)
            _close_quietly(stream)
            stream = None
            if not self._stopping.is_set():
                log.warning("lost the service events stream from %s; reconnecting", self._engine)
                self._queue.put(_Signal.RESYNC)  # so that status() soon tells if the engine is gone
                self._stopping.wait(retry)

    def _open_stream(self) -> CancellableStream[_Event] | None:
        try:
            stream = self._get_client().events(decode=True, filters={"type": "service"})
        except _ENGINE_ERRORS as exc:
            log.debug("cannot open the events stream: %s", exc)
            return None
        with self._stream_lock:
            if self._stopping.is_set():
                _close_quietly(stream)
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
            services = [service.attrs for service in client.services.list()]
        except _ENGINE_ERRORS as exc:
            self._engine_failed(exc)
            return False
        names_by_id: dict[str, str] = {}
        functions: list[Function] = []
        for attrs in services:
            function = self._to_function(attrs)
            if function is not None:
                names_by_id[str(attrs.get("ID"))] = function.name
                functions.append(function)
        self.registry.replace_all(functions)
        self._names_by_id = names_by_id
        self._engine_ok(len(functions))
        return True

    def _apply_event(self, event: Mapping[str, Any]) -> bool:
        action = event.get("Action")
        service_id = str(_mapping(event.get("Actor")).get("ID", ""))
        if action == "remove":
            self._forget(service_id)
            return True
        if action not in ("create", "update") or not service_id:
            return True
        try:
            client = self._get_client()
            # types-docker leaves ServiceCollection.get unannotated.
            attrs = client.services.get(service_id).attrs  # type: ignore[no-untyped-call]
            function = self._to_function(attrs)
            if function is None:
                # The functions network may have been created (or re-created) since we looked.
                self._refresh_network(client)
                function = self._to_function(attrs)
        except docker.errors.NotFound:
            self._forget(service_id)
            return True
        except _ENGINE_ERRORS as exc:
            self._engine_failed(exc)
            return False
        if function is None:
            self._forget(service_id)
            return True
        previous = self._names_by_id.get(service_id)
        if previous is not None and previous != function.name:
            self.registry.remove(previous)
        self._names_by_id[service_id] = function.name
        self.registry.upsert(function)
        return True

    def _forget(self, service_id: str) -> None:
        name = self._names_by_id.pop(service_id, None)
        if name is not None:
            self.registry.remove(name)

    def _refresh_network(self, client: docker.DockerClient) -> None:
        # The name filter matches substrings, hence the exact comparison.
        found = frozenset(
            str(network.id)
            for network in client.networks.list(names=[self.network])
            if network.name == self.network
        )
        missing = not found
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
        function = function_from_service(attrs, self.network, self._network_ids)
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


def _api_error(error: docker.errors.APIError) -> GatewayError:
    """A clear error for what the engine refused; its own words, never a traceback."""
    explanation = str(error.explanation or error).strip()
    if error.status_code == 409:
        return Conflict(f"the Docker engine refused: {explanation}")
    if error.status_code == 400:
        return BadRequest(f"the Docker engine refused: {explanation}")
    if error.status_code == 404:
        return OrchestratorError(f"the Docker engine could not find something: {explanation}")
    return OrchestratorError(f"the Docker engine failed: {explanation}")


def _nano_cpus(cpus: float | None) -> int | None:
    return None if cpus is None else int(cpus * 1_000_000_000)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _opted_out(labels: Mapping[str, Any]) -> bool:
    return str(labels.get(FUNCTION_LABEL, "")).strip().lower() in _OPT_OUT_VALUES


def _replicas(mode: Mapping[str, Any]) -> int | None:
    if "Replicated" in mode:
        replicas = _mapping(mode["Replicated"]).get("Replicas", 1)
        return replicas if isinstance(replicas, int) else 1
    if "Global" in mode:
        return 1
    return None  # ReplicatedJob / GlobalJob: tasks that run to completion, not functions


def _env_value(env: object, key: str) -> str | None:
    if not isinstance(env, Iterable) or isinstance(env, str):
        return None
    for entry in env:
        name, sep, value = str(entry).partition("=")
        if sep and name == key:
            return value
    return None


def _engine_address(client: docker.DockerClient | None) -> str:
    base_url = str(getattr(getattr(client, "api", None), "base_url", ""))
    # http+docker:// is the SDK's stand-in for a local socket: DOCKER_HOST says more.
    if base_url and not base_url.startswith("http+docker://"):
        return base_url
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _close_quietly(closable: CancellableStream[_Event] | docker.DockerClient) -> None:
    try:
        closable.close()
    except Exception as exc:  # already broken: nothing more to release
        log.debug("close failed: %s", exc)
