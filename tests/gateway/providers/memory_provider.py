"""An in-memory provider with write operations: the management API's fake orchestrator."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from gateway.api_types.bodies import FunctionDeployment, ResourceSpec
from gateway.deployments.service_labels import service_labels
from gateway.errors import (
    BadRequest,
    Conflict,
    FunctionNotFound,
    NamespaceNotFound,
    SecretNotFound,
)
from gateway.namespaces import NamespaceRecord, non_default, service_name
from gateway.providers.base import Function, FunctionSettings, LogLine, Resources
from gateway.providers.static import StaticProvider
from gateway.versions.model import (
    KEPT_ON_UPDATE,
    new_version_target,
    services_to_remove,
    version_target,
    with_traffic,
)

CREATED_AT = "2026-01-02T03:04:05.123456789Z"


class MemoryProvider(StaticProvider):
    """Deploys into its registry; every desired replica counts as running.

    `upstream_host` of deployed functions is `tasks.<name>` as on Swarm (nothing listens).
    Secrets are kept in `secrets` (name: value) for the default namespace and in
    `namespaced_secrets` (namespace: name: value) for the others; a deployment may mount
    only its own namespace's. Namespaces besides the default are kept in `namespace_records`
    (name: record; `namespaces` sets them by name); a namespace holds the deployments
    whose `namespace` names it.
    """

    orchestration = "memory"

    def __init__(self, functions: list[Function] | None = None) -> None:
        super().__init__(functions or [])
        self.deployments: dict[str, FunctionDeployment] = {}
        self.log_lines: list[LogLine] = []
        self.update_reads = 3
        self.update_outcome = "completed"
        self._update_states: dict[str, list[str]] = {}
        self.log_reads: list[tuple[str, str | None, int | None]] = []
        self.secrets: dict[str, bytes] = {}
        self.namespaced_secrets: dict[str, dict[str, bytes]] = {}
        self.traffic_writes: list[tuple[str, dict[str, int], str | None]] = []
        # Where deployed functions are reached (host, port) by name: `tasks.<name>` else.
        self.upstreams: dict[str, tuple[str, int]] = {}
        # When each deployed function was created, as an engine says it (else CREATED_AT).
        self.created_at: dict[str, str] = {}
        # Job services running now, by function (`running_jobs`), as tests set them.
        self.jobs: dict[str, int] = {}
        self.namespace_records: dict[str, NamespaceRecord] = {}

    @property
    def namespaces(self) -> set[str]:
        """The namespaces besides the default (the keys of `namespace_records`)."""
        return set(self.namespace_records)

    @namespaces.setter
    def namespaces(self, names: set[str]) -> None:
        self.namespace_records = {name: NamespaceRecord(name) for name in names}

    def namespace_names(self) -> Collection[str]:
        """The keys of `namespace_records`."""
        return tuple(self.namespace_records)

    async def namespace(self, name: str) -> NamespaceRecord:
        """Its record; `NamespaceNotFound` if none."""
        return self._namespace(name)

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """Keep the record; `Conflict` if the name is taken."""
        if record.name in self.namespace_records:
            raise Conflict(f"namespace {record.name!r} already exists")
        self.namespace_records[record.name] = record

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """Replace the record; `NamespaceNotFound` if none."""
        self._namespace(record.name)
        self.namespace_records[record.name] = record

    async def remove_namespace(self, name: str) -> None:
        """Forget the record; `Conflict` naming the functions and secrets it holds."""
        self._namespace(name)
        functions = sorted(d.service for d in self.deployments.values() if d.namespace == name)
        secrets = sorted(self.namespaced_secrets.get(name, {}))
        kinds = (("functions", functions), ("secrets", secrets))
        held = [f"{what} {', '.join(map(repr, names))}" for what, names in kinds if names]
        if held:
            raise Conflict(f"namespace {name!r} still holds {'; '.join(held)}")
        del self.namespace_records[name]

    def _namespace(self, name: str) -> NamespaceRecord:
        record = self.namespace_records.get(name)
        if record is None:
            raise NamespaceNotFound(name, tuple(sorted(self.namespace_records)))
        return record

    async def secret_names(self, namespace: str | None = None) -> Sequence[str]:
        """The names in that namespace's secrets, sorted."""
        return sorted(self._secrets_in(namespace))

    async def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> None:
        """Keep the value; `Conflict` if the name is taken in that namespace."""
        secrets = self._secrets_in(namespace)
        if name in secrets:
            raise Conflict(f"secret {name!r} already exists")
        secrets[name] = value

    async def update_secret(
        self, name: str, value: bytes, namespace: str | None = None
    ) -> Sequence[str]:
        """Replace the value; the functions of that namespace whose deployment mounts it."""
        secrets = self._secrets_in(namespace)
        if name not in secrets:
            raise SecretNotFound(name)
        secrets[name] = value
        return self._mounting(name, namespace)

    async def remove_secret(self, name: str, namespace: str | None = None) -> None:
        """Forget the value; `Conflict` while a deployed function mounts it."""
        secrets = self._secrets_in(namespace)
        if name not in secrets:
            raise SecretNotFound(name)
        if users := self._mounting(name, namespace):
            raise Conflict(f"secret {name!r} is mounted by {', '.join(users)}")
        del secrets[name]

    def _secrets_in(self, namespace: str | None) -> dict[str, bytes]:
        return self.namespaced_secrets.setdefault(namespace, {}) if namespace else self.secrets

    def _mounting(self, name: str, namespace: str | None) -> list[str]:
        return sorted(
            n
            for n, deployment in self.deployments.items()
            if name in deployment.secrets and _namespace(deployment) == namespace
        )

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """The newest `tail` of `log_lines` of that function, as the engine cuts them
        (`since` is only recorded)."""
        function = self._find(name)
        self.log_reads.append((function.name, since, tail))
        lines = [line for line in self.log_lines if line.name == function.name]
        return lines if tail is None else lines[-tail:]

    def running_jobs(self) -> Mapping[str, int]:
        """`jobs`, as set."""
        return dict(self.jobs)

    async def available_replicas(self) -> Mapping[str, int]:
        """Every desired replica."""
        return {function.name: function.replicas for function in self.registry.all()}

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """Add the function (or a version of one, as `<name>-<version>`); `Conflict` if
        the exact name exists."""
        base = service_name(deployment.service, _namespace(deployment))
        target = new_version_target(base, deployment.version, self.registry.lookup)
        if any(function.name == target.service for function in self.registry.all()):
            raise Conflict(f"function {target.service!r} already exists")
        self._store(deployment, replicas=1, service=target.service, extra=target.labels)
        weights = target.weights_after(deployment.version, deployment.weight)
        if target.function is not None and weights is not None:
            await self.set_traffic(target.function.name, weights)

    async def update(self, deployment: FunctionDeployment) -> None:
        """Replace the function (or one version), keeping its replicas and the platform's
        labels; the update then takes `update_reads` reads of `update_state` to end in
        `update_outcome`."""
        base = service_name(deployment.service, _namespace(deployment))
        target = version_target(base, deployment.version, self.registry.lookup)
        function = self._find(target.service)
        kept = {key: function.labels[key] for key in KEPT_ON_UPDATE if key in function.labels}
        self._store(deployment, replicas=function.replicas, service=target.service, extra=kept)
        self._update_states[function.name] = ["updating"] * self.update_reads + [
            self.update_outcome
        ]

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """Write the weights (and canary) into the function's own labels, as on Swarm."""
        function = self._find(name)
        labels = with_traffic(function.labels, weights, canary)
        self.registry.upsert(dataclasses.replace(function, labels=labels))
        self.traffic_writes.append((function.name, dict(weights), canary))

    async def update_state(self, name: str) -> str:
        """ "" until updated; then `updating` for a few reads, then `update_outcome`."""
        states = self._update_states.get(self._find(name).name, [""])
        return states.pop(0) if len(states) > 1 else states[0]

    async def remove(self, name: str) -> None:
        """Forget the function (every version of it), or one version."""
        for service in services_to_remove(self._find(name), self.registry.lookup):
            self.registry.remove(service)
            self.deployments.pop(service, None)

    async def scale(self, name: str, replicas: int) -> None:
        """Set the desired replicas (the rest of the function kept)."""
        function = self._find(name)
        self.registry.upsert(dataclasses.replace(function, replicas=replicas))

    def _find(self, name: str) -> Function:
        function = self.registry.lookup(name)
        if function is None:
            raise FunctionNotFound(name)
        return function

    def _store(
        self,
        deployment: FunctionDeployment,
        replicas: int,
        service: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        namespace = _namespace(deployment)
        for secret in deployment.secrets:
            if secret not in self._secrets_in(namespace):
                where = f" in namespace {namespace!r}" if namespace else ""
                raise BadRequest(f"secrets: no secret named {secret!r}{where}")
        name = service or deployment.service
        labels = service_labels(deployment, extra)
        self.deployments[name] = deployment
        upstream = self.upstreams.get(name, (f"tasks.{name}", 8080))
        self.registry.upsert(
            Function(
                name,
                deployment.image,
                replicas,
                upstream[0],
                upstream[1],
                labels=labels,
                env_process=deployment.env_process,
                settings=settings(deployment),
                created_at=self.created_at.get(name, CREATED_AT),
                namespace=_namespace(deployment),
            )
        )


def _namespace(deployment: FunctionDeployment) -> str | None:
    """The deployment's namespace, None for the default (however it was sent)."""
    return non_default(deployment.namespace)


def settings(deployment: FunctionDeployment) -> FunctionSettings:
    """What a provider keeps of a deployment beyond its image, process and labels."""

    def resources(spec: ResourceSpec | None) -> Resources:
        return Resources(spec.cpus, spec.memory) if spec else Resources()

    return FunctionSettings(
        env_vars=dict(deployment.env_vars),
        constraints=deployment.constraints,
        secrets=deployment.secrets,
        limits=resources(deployment.limits),
        requests=resources(deployment.requests),
        read_only_root_filesystem=deployment.read_only_root_filesystem,
    )
