"""A Swarm service as the gateway sees it: which services are functions, and the
`Function` each one describes (pure functions of `docker service inspect` attrs)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import docker.errors

from gateway.labels import FUNCTION_LABEL, PORT_LABEL, parse_port
from gateway.namespaces import DEFAULT_NAMESPACE, NAMESPACE_LABEL, non_default
from gateway.providers.base import (
    DEFAULT_FUNCTION_PORT,
    Function,
    FunctionSettings,
    ReplicaTask,
    Resources,
)

__all__ = ["FUNCTION_LABEL", "PORT_LABEL", "parse_port"]  # re-exported for discovery

STACK_LABEL = "com.docker.stack.namespace"
PROCESS_ENV = "fprocess"

_OPT_OUT_VALUES = frozenset({"false", "0", "no", "off"})
# requests' ConnectionError (engine down) is an OSError; the SDK's own errors are DockerException.
ENGINE_ERRORS = (docker.errors.DockerException, OSError)


def function_from_service(
    attrs: Mapping[str, Any],
    network: str,
    network_ids: Collection[str] = (),
    default_namespace: str = DEFAULT_NAMESPACE,
) -> Function | None:
    """The function described by a service's attrs (`docker service inspect`), or None.

    A service is a function when one of its network attachments targets `network` (by name)
    or one of `network_ids` (the functions network's and the namespaces' networks'), and
    its labels do not opt it out. Its `com.faas.namespace` label names its namespace
    (none, or `default_namespace`: the default one).
    """
    spec = mapping(attrs.get("Spec"))
    name = spec.get("Name")
    labels = {str(key): str(value) for key, value in mapping(spec.get("Labels")).items()}
    if not isinstance(name, str) or not name or _opted_out(labels):
        return None
    template = mapping(spec.get("TaskTemplate"))
    # Spec.Networks is the deprecated place for attachments; the engine still accepts it.
    attachments = template.get("Networks") or spec.get("Networks") or []
    targets = {mapping(attachment).get("Target") for attachment in attachments}
    if not targets & {network, *network_ids}:
        return None
    replicas = _replicas(mapping(spec.get("Mode")))
    if replicas is None:
        return None
    container = mapping(template.get("ContainerSpec"))
    return Function(
        name=name,
        image=str(container.get("Image", "")).split("@", 1)[0],
        replicas=replicas,
        upstream_host=f"tasks.{name}",
        upstream_port=parse_port(labels.get(PORT_LABEL)) or DEFAULT_FUNCTION_PORT,
        stack=labels.get(STACK_LABEL) or None,
        namespace=_namespace(labels, default_namespace),
        labels=labels,
        env_process=_env_value(container.get("Env"), PROCESS_ENV),
        settings=function_settings(template),
        created_at=str(attrs.get("CreatedAt") or "") or None,
    )


def _namespace(labels: Mapping[str, str], default: str) -> str | None:
    return non_default(labels.get(NAMESPACE_LABEL, "").strip(), default)


def function_settings(template: Mapping[str, Any]) -> FunctionSettings:
    """The rest of a function's definition, from its service's `TaskTemplate`: what
    `gateway.providers.swarm.management` wrote from a deployment, read back."""
    container = mapping(template.get("ContainerSpec"))
    env = {}
    for entry in container.get("Env") or []:
        name, sep, value = str(entry).partition("=")
        if sep and name != PROCESS_ENV:
            env[name] = value
    # Each secret is mounted twice (/var/openfaas/secrets/<name> and /run/secrets/<name>).
    secrets: dict[str, None] = {}
    for reference in container.get("Secrets") or []:
        file_name = str(mapping(mapping(reference).get("File")).get("Name") or "")
        if file_name:
            secrets[file_name.rsplit("/", 1)[-1]] = None
    resources = mapping(template.get("Resources"))
    return FunctionSettings(
        env_vars=env,
        constraints=tuple(
            str(c) for c in mapping(template.get("Placement")).get("Constraints") or []
        ),
        secrets=tuple(secrets),
        limits=_resources(mapping(resources.get("Limits"))),
        requests=_resources(mapping(resources.get("Reservations"))),
        read_only_root_filesystem=container.get("ReadOnly") is True,
    )


def _resources(spec: Mapping[str, Any]) -> Resources:
    nano_cpus, memory = spec.get("NanoCPUs"), spec.get("MemoryBytes")
    return Resources(
        cpus=nano_cpus / 1_000_000_000 if isinstance(nano_cpus, int) and nano_cpus else None,
        memory=memory if isinstance(memory, int) and memory else None,
    )


def replica_task(
    task: Mapping[str, Any], network: str, network_ids: Collection[str] = ()
) -> ReplicaTask:
    """A task as the gateway reads it (`docker inspect <task>`): its state, its error and
    its address on the functions network (by name or one of `network_ids`), if any."""
    status = mapping(task.get("Status"))
    address = None
    for attachment in task.get("NetworksAttachments") or []:
        attached = mapping(mapping(attachment).get("Network"))
        name = mapping(attached.get("Spec")).get("Name")
        if name != network and attached.get("ID") not in network_ids:
            continue
        for cidr in mapping(attachment).get("Addresses") or []:
            address = str(cidr).split("/", 1)[0] or None
            break
    return ReplicaTask(
        id=str(task.get("ID", "")),
        state=str(status.get("State", "")),
        address=address,
        error=str(status.get("Err") or ""),
    )


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def opted_out(attrs: Mapping[str, Any]) -> bool:
    """Whether a service's labels say it is not a function, whatever its networks
    (the gateway's own service, Prometheus)."""
    return _opted_out(mapping(mapping(attrs.get("Spec")).get("Labels")))


def _opted_out(labels: Mapping[str, Any]) -> bool:
    return str(labels.get(FUNCTION_LABEL, "")).strip().lower() in _OPT_OUT_VALUES


def _replicas(mode: Mapping[str, Any]) -> int | None:
    if "Replicated" in mode:
        replicas = mapping(mode["Replicated"]).get("Replicas", 1)
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
