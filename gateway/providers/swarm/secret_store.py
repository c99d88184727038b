"""The Docker secrets the management API owns, and their rotation (docs/management.md,
"Secrets" and "Rotation").

A secret the API creates is a Docker secret labelled `com.faas.secret=true`, with the
name the API knows it by in `com.faas.secret.name` and its version in
`com.faas.secret.version`. Only those are listed, changed, removed, or mounted by a
deployment (`secret_references`, an allow-list: any other Docker secret, the gateway's
credentials among them, is refused with a 400 naming it).

Docker secrets cannot change. Version 1 of `api-key` is the Docker secret `api-key`;
an update creates version n+1 as `api-key_<n+1>` (`_` is never part of a name the API
takes, so no other secret can hold that Docker name), points every function that mounts
an older version at it (a rolling update, in each service's order: start-first for
functions the API deployed; the services are listed twice, for a deploy that read the
versions before the new one existed and landed during the first roll), and removes
the versions before the one just replaced. That one stays until the next update or the
removal: replicas still draining read it, and a rolled-back update
(`failure_action: rollback`) mounts it again.

A function reads its secret at `/var/openfaas/secrets/<name>` (where OpenFaaS mounts it)
and at `/run/secrets/<name>` (where Docker would), whatever the version.

Namespaces (docs/management.md, "Secrets per namespace"): the default namespace's secrets
are the ones above, named and labelled as they always were. A secret of namespace `dev`
is the Docker secret `dev_api-key` (versions `dev_api-key_<n>`), labelled also
`com.faas.namespace=dev`; each namespace lists, changes and removes only its own, the same
name may live in several, and a function mounts only its own namespace's secrets (at the
same file names, so its code does not change with its namespace).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types

from gateway.api_types.bodies import MAX_SECRET_NAME_LENGTH
from gateway.errors import BadRequest, Conflict, SecretNotFound
from gateway.labels import (
    NAMESPACE_LABEL,
    SECRET_LABEL,
    SECRET_NAME_LABEL,
    SECRET_VERSION_LABEL,
    parse_integer,
)
from gateway.providers.swarm.engine import api_error, engine_call
from gateway.providers.swarm.rewrite import update_as_read
from gateway.providers.swarm.services import mapping

if TYPE_CHECKING:
    from gateway.providers.swarm.discovery import SwarmProvider

log = logging.getLogger("gateway.swarm")

OPENFAAS_SECRETS_DIR = "/var/openfaas/secrets/"
"""Where OpenFaaS mounts a function's secrets: functions ported from it read them there."""
_MAX_VERSION = 10**9
_UPDATE_TRIES = 3  # a service changed between reading and updating it (e.g. scaled)


@dataclass(frozen=True)
class SecretVersion:
    """One Docker secret behind a name the API knows."""

    id: str
    docker_name: str
    name: str
    version: int


def docker_secret_name(name: str, version: int, namespace: str | None = None) -> str:
    """The Docker secret holding `version` of the API's secret `name` in `namespace`
    (None: the default namespace)."""
    base = f"{namespace}_{name}" if namespace else name
    return base if version == 1 else f"{base}_{version}"


def owned_versions(
    client: docker.DockerClient, namespace: str | None = None
) -> dict[str, list[SecretVersion]]:
    """Every Docker secret the API created in `namespace` (None: the default), by the
    API's name, oldest version first."""
    owned = [f"{SECRET_LABEL}=true"]
    if namespace:
        owned.append(f"{NAMESPACE_LABEL}={namespace}")
    versions: dict[str, list[SecretVersion]] = {}
    for secret in client.api.secrets(filters={"label": owned}):
        spec = mapping(secret.get("Spec"))
        labels = mapping(spec.get("Labels"))
        name = labels.get(SECRET_NAME_LABEL)
        version = parse_integer(str(labels.get(SECRET_VERSION_LABEL, "")), 1, _MAX_VERSION)
        if labels.get(SECRET_LABEL) != "true" or not isinstance(name, str) or version is None:
            continue
        if (labels.get(NAMESPACE_LABEL) or None) != (namespace or None):
            continue  # the default namespace's listing: a namespace's are not among them
        versions.setdefault(name, []).append(
            SecretVersion(str(secret.get("ID")), str(spec.get("Name")), name, version)
        )
    for found in versions.values():
        found.sort(key=lambda secret: secret.version)
    return versions


def namespace_secret_names(client: docker.DockerClient, namespace: str) -> list[str]:
    """The API names of the secrets `namespace` holds, sorted (none: it may be removed)."""
    return sorted(owned_versions(client, namespace))


def secret_references(
    client: docker.DockerClient, names: Iterable[str], namespace: str | None = None
) -> list[docker.types.SecretReference]:
    """The mounts of the secrets of a deployment in `namespace` (None: the default), their
    newest versions, each at `/var/openfaas/secrets/<name>` and `/run/secrets/<name>`;
    `BadRequest` naming the first one the API does not own in that namespace."""
    names = list(names)
    if not names:
        return []
    owned = owned_versions(client, namespace)
    references: list[docker.types.SecretReference] = []
    for name in names:
        versions = owned.get(name)
        if not versions:
            raise BadRequest(f"secrets: {_not_mountable(client, name, namespace)}")
        references.extend(_mounts(versions[-1]))
    return references


def _mounts(secret: SecretVersion) -> list[docker.types.SecretReference]:
    return [
        docker.types.SecretReference(
            secret.id, secret.docker_name, filename=OPENFAAS_SECRETS_DIR + secret.name
        ),
        docker.types.SecretReference(secret.id, secret.docker_name, filename=secret.name),
    ]


def _not_mountable(client: docker.DockerClient, name: str, namespace: str | None) -> str:
    """Why a function in `namespace` cannot mount `name`: it is another namespace's, the
    API did not create it, or it does not exist."""
    create = f"POST /system/secrets (faas-cli secret create{_flag(name, namespace)})"
    holders = _namespaces_holding(client, name)
    if holders:
        return (
            f"secret {name!r} is not in {_where(namespace)} (only in "
            f"{' and '.join(map(_where, holders))}): a function mounts only the secrets of "
            f"its own namespace; create it there with {create}"
        )
    docker_name = docker_secret_name(name, 1, namespace)
    labels = _docker_secret_labels(client, docker_name)
    if labels is not None and labels.get(SECRET_LABEL) != "true":
        return (
            f"{docker_name!r} is a Docker secret the management API did not create: a "
            f"function may mount only secrets created through {create}"
        )
    if namespace:
        return f"no secret named {name!r} in {_where(namespace)}: create it first with {create}"
    return f"no secret named {name!r}: create it first with {create}"


def _namespaces_holding(client: docker.DockerClient, name: str) -> list[str | None]:
    """The namespaces (None: the default) with an API secret called `name`."""
    wanted = {"label": [f"{SECRET_LABEL}=true", f"{SECRET_NAME_LABEL}={name}"]}
    found = {
        mapping(mapping(secret.get("Spec")).get("Labels")).get(NAMESPACE_LABEL) or None
        for secret in client.api.secrets(filters=wanted)
    }
    return sorted(found, key=lambda namespace: namespace or "")


def _docker_secret_labels(
    client: docker.DockerClient, docker_name: str
) -> Mapping[str, Any] | None:
    """The labels of the Docker secret named exactly `docker_name`; None if there is none."""
    for secret in client.api.secrets(filters={"name": docker_name}):
        spec = mapping(secret.get("Spec"))
        if spec.get("Name") == docker_name:
            return mapping(spec.get("Labels"))
    return None


def _free_version(
    client: docker.DockerClient, name: str, version: int, namespace: str | None
) -> int:
    """`version`, or the first after it whose Docker name no secret holds: `dev_2` is
    version 2 of the default namespace's `dev` and version 1 of namespace dev's `2`."""
    base = docker_secret_name(name, 1, namespace)
    listed = client.api.secrets(filters={"name": base})  # a substring match
    taken = {mapping(secret.get("Spec")).get("Name") for secret in listed}
    while docker_secret_name(name, version, namespace) in taken:
        version += 1
    return version


def _where(namespace: str | None) -> str:
    return f"namespace {namespace!r}" if namespace else "the default namespace"


def _in(namespace: str | None) -> str:
    """` in namespace 'dev'` for a namespace, nothing for the default (today's words)."""
    return f" in {_where(namespace)}" if namespace else ""


def _flag(name: str, namespace: str | None) -> str:
    """faas-cli's arguments naming `name` in `namespace` (none for the default)."""
    return f" {name} --namespace {namespace}" if namespace else ""


class SwarmSecrets:
    """`SecretStore` on Docker secrets, for `SwarmProvider` (see the module docstring)."""

    def __init__(self, discovery: SwarmProvider) -> None:
        self._discovery = discovery

    async def secret_names(self, namespace: str | None = None) -> Sequence[str]:
        """See `SecretStore.secret_names`."""
        return await engine_call(self._discovery.engine, self._names, namespace)

    async def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> None:
        """See `SecretStore.create_secret`."""
        await engine_call(self._discovery.engine, self._create, name, value, namespace)

    async def update_secret(
        self, name: str, value: bytes, namespace: str | None = None
    ) -> Sequence[str]:
        """See `SecretStore.update_secret`: a new version, then the rolls (module docstring)."""
        return await engine_call(self._discovery.engine, self._update, name, value, namespace)

    async def remove_secret(self, name: str, namespace: str | None = None) -> None:
        """See `SecretStore.remove_secret`: every version, once no function mounts any."""
        await engine_call(self._discovery.engine, self._remove, name, namespace)

    def _names(self, namespace: str | None) -> list[str]:
        return sorted(owned_versions(self._discovery.client(), namespace))

    def _create(self, name: str, value: bytes, namespace: str | None) -> None:
        if namespace and len(namespace) + 1 + len(name) > MAX_SECRET_NAME_LENGTH:
            longest = MAX_SECRET_NAME_LENGTH - len(namespace) - 1
            raise BadRequest(
                f"name: at most {longest} characters in {_where(namespace)} (Docker names "
                f"the secret '{namespace}_<name>', and its versions' names must fit in 64)"
            )
        client = self._discovery.client()
        if owned_versions(client, namespace).get(name):
            raise Conflict(
                f"secret {name!r} already exists{_in(namespace)} (change its value with "
                "PUT /system/secrets)"
            )
        docker_name = docker_secret_name(name, 1, namespace)
        labels = _docker_secret_labels(client, docker_name)
        if labels is not None:
            theirs = labels.get(SECRET_LABEL) != "true"
            raise Conflict(
                f"a Docker secret named {docker_name!r} exists that the management API did "
                "not create: pick another name, or remove it with `docker secret rm`"
                if theirs
                else f"the Docker name {docker_name!r} of secret {name!r}{_in(namespace)} "
                "is a version of another of the API's secrets: pick another name"
            )
        self._create_version(client, name, 1, value, namespace)

    def _update(self, name: str, value: bytes, namespace: str | None) -> list[str]:
        client = self._discovery.client()
        versions = self._versions(client, name, namespace)
        version = _free_version(client, name, versions[-1].version + 1, namespace)
        new = self._create_version(client, name, version, value, namespace)
        old_ids = frozenset(secret.id for secret in versions)
        rolled = self._roll(client, old_ids, new)
        # A deploy that read the versions before `new` existed may have created its
        # service after the roll listed them: look once more.
        rolled = sorted({*rolled, *self._roll(client, old_ids, new)})
        for old in versions[:-1]:
            self._remove_version(client, old, quietly=True)
        log.info("secret %s%s: version %d; rolled %s",
                 name, _in(namespace), new.version, rolled or "no function")  # fmt: skip
        return rolled

    def _remove(self, name: str, namespace: str | None) -> None:
        client = self._discovery.client()
        versions = self._versions(client, name, namespace)
        ids = {secret.id for secret in versions}
        users = sorted(
            str(mapping(attrs.get("Spec")).get("Name"))
            for attrs in self._function_services(client)
            if ids & _mounted_ids(attrs)
        )
        if users:
            raise Conflict(
                f"secret {name!r}{_in(namespace)} is mounted by {', '.join(map(repr, users))}: "
                "update those functions without it (PUT /system/functions) or remove them first"
            )
        for secret in versions:
            self._remove_version(client, secret, quietly=False)

    def _versions(
        self, client: docker.DockerClient, name: str, namespace: str | None
    ) -> list[SecretVersion]:
        versions = owned_versions(client, namespace).get(name)
        if not versions:
            hints = [f"in {_where(namespace)}"] if namespace else []
            labels = _docker_secret_labels(client, docker_secret_name(name, 1, namespace))
            if labels is not None and labels.get(SECRET_LABEL) != "true":
                hints.append("the Docker secret of that name is not the API's")
            raise SecretNotFound(name, "; ".join(hints))
        return versions

    def _create_version(
        self,
        client: docker.DockerClient,
        name: str,
        version: int,
        value: bytes,
        namespace: str | None,
    ) -> SecretVersion:
        docker_name = docker_secret_name(name, version, namespace)
        labels = {
            SECRET_LABEL: "true",
            SECRET_NAME_LABEL: name,
            SECRET_VERSION_LABEL: str(version),
        }
        if namespace:
            labels[NAMESPACE_LABEL] = namespace
        created = client.api.create_secret(name=docker_name, data=value, labels=labels)
        return SecretVersion(str(mapping(created).get("ID")), docker_name, name, version)

    def _remove_version(
        self, client: docker.DockerClient, secret: SecretVersion, *, quietly: bool
    ) -> None:
        try:
            client.api.remove_secret(secret.id)
        except docker.errors.NotFound:
            pass  # gone already: what was asked
        except docker.errors.APIError as error:
            # Still mounted by a service that is not a function (the API leaves those be).
            if not quietly:
                raise Conflict(f"secret {secret.name!r}: {api_error(error).message}") from None
            log.warning(
                "secret %s: version %d (%s) kept: %s",
                secret.name, secret.version, secret.docker_name, api_error(error).message,
            )  # fmt: skip

    def _function_services(self, client: docker.DockerClient) -> list[Mapping[str, Any]]:
        # types-docker leaves these SDK methods unannotated (here and below).
        services = client.api.services()  # type: ignore[no-untyped-call]
        return [attrs for attrs in services if self._discovery.is_function(attrs)]

    def _roll(
        self, client: docker.DockerClient, old_ids: frozenset[str], new: SecretVersion
    ) -> list[str]:
        """Point every function that mounts one of `old_ids` at `new`; their names."""
        rolled: list[str] = []
        for attrs in self._function_services(client):
            if not old_ids & _mounted_ids(attrs):
                continue
            service_id = str(attrs.get("ID"))
            for attempt in range(1, _UPDATE_TRIES + 1):
                try:
                    self._point_at(client, attrs, old_ids, new)
                    break
                except docker.errors.APIError as error:
                    stale = "out of sequence" in str(error.explanation)
                    if not stale or attempt == _UPDATE_TRIES:
                        raise
                    attrs = client.api.inspect_service(service_id)  # type: ignore[no-untyped-call]
            rolled.append(str(mapping(attrs.get("Spec")).get("Name")))
            self._discovery.reread(service_id)
        return sorted(rolled)

    def _point_at(
        self,
        client: docker.DockerClient,
        attrs: Mapping[str, Any],
        old_ids: Collection[str],
        new: SecretVersion,
    ) -> None:
        # The spec goes back as read, only the secrets' ids and names changed (as for a
        # scale: the SDK's `Service.update` would fill in defaults and roll more).
        spec = mapping(attrs.get("Spec"))
        template = dict(mapping(spec.get("TaskTemplate")))
        container = dict(mapping(template.get("ContainerSpec")))
        container["Secrets"] = [
            {**reference, "SecretID": new.id, "SecretName": new.docker_name}
            if reference.get("SecretID") in old_ids
            else reference
            for reference in container.get("Secrets") or []
        ]
        template["ContainerSpec"] = container
        version = mapping(attrs.get("Version")).get("Index")
        update_as_read(client, attrs.get("ID"), version, spec, task_template=template)


def _mounted_ids(attrs: Mapping[str, Any]) -> set[str]:
    template = mapping(mapping(attrs.get("Spec")).get("TaskTemplate"))
    secrets = mapping(template.get("ContainerSpec")).get("Secrets") or []
    return {str(mapping(reference).get("SecretID")) for reference in secrets}
