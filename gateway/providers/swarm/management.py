"""Swarm management writes: deploy, update, remove, scale, and the reads the API asks for
now (running replicas, update state, logs).

Each call runs on a worker thread (`asyncio.to_thread`), never on the event loop, and then
asks discovery to re-read the service, so the registry follows at once without waiting
for the engine's event. Services created here are always attached to the functions
network with `dnsrr` endpoints, labelled `com.faas.managed=true`, roll with `start-first`
updates, and get nothing beyond the `FunctionDeployment` fields: no mounts but an optional
`/tmp` tmpfs and the secrets the API owns (`gateway.providers.swarm.secret_store`), no
capabilities, no published ports, never the Docker socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import docker
import docker.errors
import docker.types
from docker.models.services import Service

from gateway.api_types.bodies import FunctionDeployment
from gateway.deployments.service_labels import service_labels
from gateway.errors import BadRequest, Conflict, FunctionNotFound
from gateway.labels import MANAGED_LABEL, deploy_replicas
from gateway.namespaces import NAMESPACE_LABEL, non_default, service_name
from gateway.providers.base import LogLine, ReplicaTask
from gateway.providers.swarm.engine import engine_call
from gateway.providers.swarm.logs import read_function_logs
from gateway.providers.swarm.rewrite import update_as_read
from gateway.providers.swarm.secret_store import secret_references
from gateway.providers.swarm.services import PROCESS_ENV, mapping, replica_task
from gateway.versions.model import (
    KEPT_ON_UPDATE,
    new_version_target,
    services_to_remove,
    version_target,
    with_traffic,
)

if TYPE_CHECKING:
    from gateway.providers.swarm.discovery import SwarmProvider

T = TypeVar("T")


class SwarmManagement:
    """The engine calls behind the management API, for the services `discovery` follows."""

    def __init__(self, discovery: SwarmProvider) -> None:
        self._discovery = discovery
        self._engine_node: str | None = None

    async def available_replicas(self) -> Mapping[str, int]:
        """See `FunctionProvider.available_replicas`: tasks in state running, per service."""
        return await self._engine_call(self._count_running_tasks)

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask]:
        """See `FunctionProvider.replica_tasks`: the service's tasks that should run."""
        return await self._engine_call(self._list_tasks, name)

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.deploy`."""
        await self._engine_call(self._create_service, deployment)

    async def update(self, deployment: FunctionDeployment) -> None:
        """See `FunctionProvider.update`: only for services the API created (a PUT
        replaces the whole definition, which would drop what a stack file set)."""
        await self._engine_call(self._update_service, deployment)

    async def remove(self, name: str) -> None:
        """See `FunctionProvider.remove`."""
        await self._engine_call(self._remove_service, name)

    async def scale(self, name: str, replicas: int) -> None:
        """See `FunctionProvider.scale`."""
        await self._engine_call(self._scale_service, name, replicas)

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """See `FunctionProvider.set_traffic`: labels of the function's own service, in one
        update of its spec (compare-and-swap on its version, retried on a race)."""
        await self._engine_call(self._write_traffic, name, weights, canary)

    async def update_state(self, name: str) -> str:
        """See `FunctionProvider.update_state`: the service's `UpdateStatus.State`."""
        return await self._engine_call(self._read_update_state, name)

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """See `FunctionProvider.logs`: the service's logs (json-file or journald driver)."""
        # The API checked the query: whatever the engine refuses is not the client's to
        # fix, and its words (a protobuf parser's, say) stay in the gateway's log.
        reading = f"read the logs of {name!r}"
        return await engine_call(
            self._discovery.engine, self._read_logs, name, since, tail, reading=reading
        )

    async def _engine_call(self, operation: Callable[..., T], *args: Any) -> T:
        return await engine_call(self._discovery.engine, operation, *args)

    def _count_running_tasks(self) -> dict[str, int]:
        names_by_id = self._discovery.names_by_id()
        counts: dict[str, int] = {}
        client = self._discovery.client()
        # types-docker leaves these SDK methods unannotated (here and below).
        tasks = client.api.tasks(filters={"desired-state": "running"})  # type: ignore[no-untyped-call]
        for task in tasks:
            name = names_by_id.get(str(task.get("ServiceID")))
            if name is not None and mapping(task.get("Status")).get("State") == "running":
                counts[name] = counts.get(name, 0) + 1
        return counts

    def _list_tasks(self, name: str) -> list[ReplicaTask]:
        known = self._discovery.registry.lookup(name)
        full_name = known.name if known is not None else name
        ids = [sid for sid, sname in self._discovery.names_by_id().items() if sname == full_name]
        if not ids:
            return []
        client = self._discovery.client()
        # Every task Swarm keeps (its history included): one that failed is marked for
        # shutdown at once when Swarm replaces it, and that failure is what we look for.
        tasks = client.api.tasks(filters={"service": ids[0]})  # type: ignore[no-untyped-call]
        network, network_ids = self._discovery.network, self._discovery.network_ids()
        return [replica_task(task, network, network_ids) for task in tasks]

    def _create_service(self, deployment: FunctionDeployment) -> None:
        client = self._discovery.client()
        lookup = self._discovery.registry.lookup
        namespace = self._namespace(deployment)
        base = service_name(deployment.service, namespace)
        target = new_version_target(base, deployment.version, lookup)
        if self._services_named(client, target.service):
            what = "" if target.own else f"version {deployment.version!r} of the "
            raise Conflict(
                f"{what}function {target.service!r} already exists "
                "(update it with PUT /system/functions, or remove it first)"
            )
        service = client.services.create(  # type: ignore[no-untyped-call]
            deployment.image,
            name=target.service,
            mode=docker.types.ServiceMode("replicated", deploy_replicas(deployment.labels)),
            **self._service_options(client, deployment, target.labels, namespace),
        )
        self._discovery.reread(str(service.id))
        weights = target.weights_after(deployment.version, deployment.weight)
        if target.function is not None and weights is not None:
            self._write_traffic(target.function.name, weights, None)

    def _update_service(self, deployment: FunctionDeployment) -> None:
        client = self._discovery.client()
        namespace = self._namespace(deployment)
        target = version_target(
            service_name(deployment.service, namespace),
            deployment.version,
            self._discovery.registry.lookup,
        )
        if target.function is None and deployment.version is not None:
            raise FunctionNotFound(deployment.service)
        service = self._function_service(client, target.service)
        spec = mapping(service.attrs.get("Spec"))
        labels = mapping(spec.get("Labels"))
        if labels.get(MANAGED_LABEL) != "true":
            raise Conflict(
                f"function {service.name!r} was not deployed through the management API "
                f"(no {MANAGED_LABEL}=true label): update it where it was defined"
            )
        # The platform's own labels (version, weights, canary) outlive a PUT.
        kept = {key: str(labels[key]) for key in KEPT_ON_UPDATE if key in labels}
        # A `min` label raises the replicas at once (never lowers them, nor wakes a 0).
        options = self._service_options(client, deployment, kept, namespace)
        current = mapping(mapping(spec.get("Mode")).get("Replicated")).get("Replicas")
        if isinstance(current, int) and deploy_replicas(deployment.labels, current) != current:
            replicas = deploy_replicas(deployment.labels, current)
            options["mode"] = docker.types.ServiceMode("replicated", replicas)
        # force_update: a PUT always rolls the tasks, even for an unchanged `:latest` tag.
        service.update(  # type: ignore[no-untyped-call]
            image=deployment.image,
            force_update=True,
            **options,
        )
        self._discovery.reread(str(service.id))

    def _remove_service(self, name: str) -> None:
        client = self._discovery.client()
        function = self._discovery.registry.lookup(name)
        names = (
            services_to_remove(function, self._discovery.registry.lookup)
            if function is not None
            else [name]
        )
        for removed in names:
            service = self._function_service(client, removed)
            try:
                service.remove()  # type: ignore[no-untyped-call]
            except docker.errors.NotFound:
                raise FunctionNotFound(name) from None
            self._discovery.forget_service(str(service.id))

    def _write_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None, attempts: int = 5
    ) -> None:
        client = self._discovery.client()
        for attempt in range(attempts):
            service = self._function_service(client, name)
            spec = mapping(service.attrs.get("Spec"))
            labels = {str(k): str(v) for k, v in mapping(spec.get("Labels")).items()}
            labels = with_traffic(labels, weights, canary)
            try:
                # Labels only: the tasks keep running (as the lease's renewals).
                update_as_read(client, service.id, service.version, spec, labels=labels)
            except docker.errors.APIError as error:
                # Another writer (a scale, the canary) changed it since it was read.
                if "out of sequence" not in str(error) or attempt == attempts - 1:
                    raise
                continue
            self._discovery.reread(str(service.id))
            return

    def _read_update_state(self, name: str) -> str:
        service = self._function_service(self._discovery.client(), name)
        return str(mapping(service.attrs.get("UpdateStatus")).get("State") or "")

    def _read_logs(self, name: str, since: str | None, tail: int | None) -> list[LogLine]:
        client = self._discovery.client()
        service = self._function_service(client, name)
        return read_function_logs(client.api, service.attrs, since, tail, self._node_id(client))

    def _node_id(self, client: docker.DockerClient) -> str:
        """The swarm node of the engine this gateway asks (its replicas' containers are
        the ones it can read directly)."""
        if self._engine_node is None:
            info = client.api.info()
            self._engine_node = str(mapping(mapping(info).get("Swarm")).get("NodeID") or "")
        return self._engine_node

    def _scale_service(self, name: str, replicas: int) -> None:
        client = self._discovery.client()
        service = self._function_service(client, name)
        spec = mapping(service.attrs.get("Spec"))
        if "Replicated" not in mapping(spec.get("Mode")):
            raise BadRequest(f"function {service.name!r} is a global service: it cannot be scaled")
        # Only the count changes (`update_as_read`): the SDK's `service.scale()` replaced
        # every running task, and a scale-down left a function with no replica for seconds.
        mode = {"Replicated": {"Replicas": replicas}}
        update_as_read(client, service.id, service.version, spec, mode=mode)
        self._discovery.reread(str(service.id))

    def _services_named(self, client: docker.DockerClient, name: str) -> list[Service]:
        # The name filter matches prefixes, hence the exact comparison.
        return [s for s in client.services.list(filters={"name": name}) if s.name == name]

    def _function_service(self, client: docker.DockerClient, name: str) -> Service:
        """The service of a function by full name (or registry short name), else 404:
        the function a call to `name` reaches.

        Services that are not functions (the gateway, Prometheus, anything off the
        functions network) are never found here, so the API cannot touch them.
        """
        for candidate in self._function_names(name):
            for service in self._services_named(client, candidate):
                if self._discovery.is_function(service.attrs):
                    return service
        raise FunctionNotFound(name)

    def _function_names(self, name: str) -> list[str]:
        known = self._discovery.registry.lookup(name)
        return [name] if known is None or known.name == name else [name, known.name]

    def _namespace(self, deployment: FunctionDeployment) -> str | None:
        """The deployment's namespace, None for the default one."""
        return non_default(deployment.namespace, self._discovery.default_namespace)

    def _service_options(
        self,
        client: docker.DockerClient,
        deployment: FunctionDeployment,
        platform_labels: Mapping[str, str] | None = None,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """A namespace's function is on its namespace's network only (docs/management.md,
        "Namespaces"): no other namespace's replica can reach it directly."""
        if namespace is not None:
            platform_labels = {**(platform_labels or {}), NAMESPACE_LABEL: namespace}
        env = {**deployment.env_vars}
        if deployment.env_process is not None:
            env[PROCESS_ENV] = deployment.env_process
        options: dict[str, Any] = {
            "env": [f"{key}={value}" for key, value in env.items()],
            "labels": service_labels(deployment, platform_labels),
            "networks": [self._discovery.network_of(namespace)],
            "endpoint_spec": docker.types.EndpointSpec(mode="dnsrr"),
            # One task at a time, the new one healthy before the old one stops.
            "update_config": docker.types.UpdateConfig(
                parallelism=1, order="start-first", failure_action="rollback"
            ),
            "constraints": list(deployment.constraints),
            "secrets": secret_references(client, deployment.secrets, namespace),
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


def _nano_cpus(cpus: float | None) -> int | None:
    return None if cpus is None else round(cpus * 1_000_000_000)
