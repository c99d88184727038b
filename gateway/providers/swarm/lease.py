"""`SwarmLease`: the autoscaler's cluster-wide lease, kept in labels of a Swarm service.

Several gateway containers (one per manager node, or replicas behind the ingress) each
elect one worker with a `FileLock`; that worker must also hold this lease before it makes
a scaling decision, so decisions happen once across the cluster (docs/scaling.md). Swarm's
Raft store is what every gateway already shares, so the lease lives there, as two labels
on one service (by default the gateway's own; `GATEWAY_LEASE_SERVICE` names another):

- `com.faas.autoscaler.holder`: a unique id per gateway process start;
- `com.faas.autoscaler.expires`: unix seconds after which anyone may take it over.

Every write is a compare-and-swap on the service's `Version.Index`: the engine refuses a
stale version ("update out of sequence"), and that is losing the race. A write sends the
spec back exactly as read with only `Labels` changed; service labels are not part of the
task template, so Swarm starts no new task (checked on Docker 20.10: same task, no
`UpdateStatus`). Expiry compares the nodes' wall clocks: keep them in sync (NTP).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors

from gateway.providers.swarm.rewrite import update_as_read
from gateway.providers.swarm.services import ENGINE_ERRORS, mapping

log = logging.getLogger("gateway.swarm.lease")

HOLDER_LABEL = "com.faas.autoscaler.holder"
EXPIRES_LABEL = "com.faas.autoscaler.expires"
# Set by Swarm on every container of a task.
SERVICE_ID_LABEL = "com.docker.swarm.service.id"
_RELEASE_ATTEMPTS = 3


class SwarmLease:
    """A `LeaderLease` on the labels of a Swarm service (see the module docstring).

    `client` gives the Docker client (the provider's, made lazily); `term`: seconds a
    take-over or renewal lasts; `service`: the service that keeps the labels by name, else
    the service of the container this process runs in (its hostname is the container id).
    Outside a Swarm task and with no `service`, there is nothing to share: the lease is
    always held (the flock alone elects), logged once. `labels`: the holder's and the
    expiry's label names (another lease, e.g. the trigger scheduler's, has its own).
    """

    def __init__(
        self,
        client: Callable[[], docker.DockerClient],
        *,
        term: float,
        service: str | None = None,
        holder: str | None = None,
        hostname: str | None = None,
        clock: Callable[[], float] = time.time,
        labels: tuple[str, str] = (HOLDER_LABEL, EXPIRES_LABEL),
    ) -> None:
        self.term = term
        self._holder_label, self._expires_label = labels
        self.service = service
        self.holder = holder or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._client = client
        self._hostname = hostname or socket.gethostname()
        self._clock = clock
        self._service_id: str | None = None
        self._alone = False  # not a Swarm task: the flock alone elects
        self._warned: set[str] = set()

    async def hold(self) -> bool:
        """See `LeaderLease.hold`: one inspect and, when free or ours, one CAS write."""
        return await asyncio.to_thread(self._hold)

    async def release(self) -> None:
        """See `LeaderLease.release`: drops both labels if this process still holds them."""
        await asyncio.to_thread(self._release)

    def _hold(self) -> bool:
        if self._alone:
            return True
        try:
            client = self._client()
            if self._service_id is None:
                self._service_id = self._find_service(client)
                if self._service_id is None:
                    return self._without_service()
            return self._take(client, self._service_id)
        except docker.errors.NotFound:
            self._service_id = None  # removed (or re-created): found again next time
            return False
        except docker.errors.APIError as error:
            if not _out_of_sequence(error):
                self._warn_once("engine", f"cannot keep the autoscaler's lease: {_reason(error)}")
            return False
        except ENGINE_ERRORS as error:
            self._warn_once("engine", f"cannot keep the autoscaler's lease: {error}")
            return False

    def _take(self, client: docker.DockerClient, service_id: str) -> bool:
        # types-docker leaves APIClient methods unannotated (here and below).
        attrs = client.api.inspect_service(service_id)  # type: ignore[no-untyped-call]
        labels = _labels(attrs)
        holder, now = labels.get(self._holder_label), self._clock()
        if holder not in (None, self.holder) and _seconds(labels.get(self._expires_label)) > now:
            return False
        labels[self._holder_label] = self.holder
        labels[self._expires_label] = str(math.ceil(now + self.term))
        _write_labels(client, attrs, labels)
        self._warned.discard("engine")
        return True

    def _release(self) -> None:
        if self._alone or self._service_id is None:
            return
        try:
            client = self._client()
            for _ in range(_RELEASE_ATTEMPTS):
                attrs = client.api.inspect_service(self._service_id)  # type: ignore[no-untyped-call]
                labels = _labels(attrs)
                if labels.get(self._holder_label) != self.holder:
                    return
                labels.pop(self._holder_label, None)
                labels.pop(self._expires_label, None)
                try:
                    _write_labels(client, attrs, labels)
                    return
                except docker.errors.APIError as error:
                    if not _out_of_sequence(error):
                        raise
        except ENGINE_ERRORS as error:  # it expires by itself
            log.info("could not release the autoscaler's lease (it will expire): %s", error)

    def _find_service(self, client: docker.DockerClient) -> str | None:
        if self.service is not None:
            # The name filter matches prefixes, hence the exact comparison.
            for attrs in client.api.services(filters={"name": self.service}):  # type: ignore[no-untyped-call]
                if mapping(attrs.get("Spec")).get("Name") == self.service:
                    return str(attrs["ID"])
            return None
        return own_service_id(client, self._hostname)

    def _without_service(self) -> bool:
        if self.service is not None:
            # Looked up again on every pass, so a re-created service is found.
            self._warn_once(
                "service",
                f"GATEWAY_LEASE_SERVICE: no service named {self.service!r}; the autoscaler "
                "is elected by this gateway's workers alone until it exists",
            )
            return True
        self._alone = True
        log.info(
            "not running as a Swarm task (no %s label on container %s): the autoscaler is "
            "elected by this gateway's workers alone",
            SERVICE_ID_LABEL,
            self._hostname,
        )
        return True

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


def own_service_id(client: docker.DockerClient, hostname: str) -> str | None:
    """The id of the Swarm service whose task runs the container `hostname` names (a
    container's hostname is its id), or None when it is not a Swarm task."""
    try:
        container = client.api.inspect_container(hostname)
    except docker.errors.NotFound:
        return None
    labels = mapping(mapping(container.get("Config")).get("Labels"))
    return str(labels.get(SERVICE_ID_LABEL) or "") or None


def _labels(attrs: Mapping[str, Any]) -> dict[str, str]:
    raw = mapping(mapping(attrs.get("Spec")).get("Labels"))
    return {str(key): str(value) for key, value in raw.items()}


def _write_labels(
    client: docker.DockerClient, attrs: Mapping[str, Any], labels: Mapping[str, str]
) -> None:
    """Send the spec back exactly as read, with `labels`, at the version read (CAS)."""
    version = mapping(attrs.get("Version"))["Index"]
    update_as_read(client, attrs["ID"], version, mapping(attrs.get("Spec")), labels=labels)


def _out_of_sequence(error: docker.errors.APIError) -> bool:
    """The engine's answer to a write at a stale version: another writer came first."""
    return "out of sequence" in _reason(error)


def _reason(error: docker.errors.APIError) -> str:
    return str(error.explanation or error)


def _seconds(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0  # garbled: as good as expired
