"""Many cheap extra functions for the swarm variant of scenario 5.

Each is a plain Swarm service on the functions network (dnsrr), made from the image a
stack function already runs (no pull, no build), labelled `com.faas.bench=1` so that
leftovers of an interrupted run can be found and removed. They have no health check:
a task's container then counts as running (and is in DNS) as soon as it starts, and
many containers do not add `docker exec` health checks every 3 s each to the machine
under test.

Containers are started and removed a few at a time (`create_gradually`,
`remove_gradually`): on 2 cores, starting 20 or more at once starves everything else
for long enough that the gateway's own health check (3 s timeout, 3 retries) fails
and Swarm replaces the gateway in the middle of the run.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from bench.swarm_stack import PORT_LABEL

BENCH_LABEL = "com.faas.bench"
NAME_PREFIX = "bench-fn"


@dataclass(frozen=True)
class FunctionTemplate:
    """What an extra function copies from a stack function: image, env, port label."""

    image: str
    env: tuple[str, ...] = ()
    port: str | None = None


def template_from_spec(spec: Mapping[str, Any]) -> FunctionTemplate:
    """The template from a service spec (`docker service inspect`'s `Spec`).

    Only the image, its environment and the `com.faas.port` label are taken: never the
    stack's namespace label (`docker stack rm` would take the copies along).
    """
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    image = container.get("Image")
    if not image:
        raise ValueError("the service spec names no image")
    labels = spec.get("Labels") or {}
    port = labels.get(PORT_LABEL)
    return FunctionTemplate(str(image), tuple(str(e) for e in container.get("Env") or ()), port)


def fleet_names(count: int, prefix: str = NAME_PREFIX) -> list[str]:
    """`bench-fn000`, `bench-fn001`, ...: `count` names."""
    width = max(3, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


def service_definition(
    name: str, template: FunctionTemplate, network: str, replicas: int, health: bool = False
) -> dict[str, Any]:
    """The engine API's create-service arguments for one extra function (`health`: keep
    the image's health check, as a deployed function has it)."""
    labels = {BENCH_LABEL: "1"}
    if template.port is not None:
        labels[PORT_LABEL] = template.port
    container: dict[str, Any] = {"Image": template.image, "Labels": {BENCH_LABEL: "1"}}
    if not health:
        container["Healthcheck"] = {"Test": ["NONE"]}
    if template.env:
        container["Env"] = list(template.env)
    return {
        "task_template": {
            "ContainerSpec": container,
            "Networks": [{"Target": network}],
            "RestartPolicy": {"Condition": "any"},
        },
        "name": name,
        "labels": labels,
        "mode": {"Replicated": {"Replicas": replicas}},
        "endpoint_spec": {"Mode": "dnsrr"},
    }


class Fleet:
    """Create, wait for and remove the extra functions (all found by their label)."""

    def __init__(
        self, client: docker.DockerClient, network: str, template: FunctionTemplate
    ) -> None:
        self.client = client
        self.network = network
        self.template = template

    def create(self, names: Sequence[str], replicas: int = 1, health: bool = False) -> None:
        """Create one service per name, all at once (returns once the engine has them)."""
        for name in names:
            self.client.api.create_service(  # type: ignore[no-untyped-call]
                **service_definition(name, self.template, self.network, replicas, health)
            )

    def create_gradually(
        self, names: Sequence[str], batch: int, timeout: float, health: bool = False
    ) -> set[str]:
        """Create one-replica services `batch` at a time, each batch once the previous
        one runs; gives up waiting after `timeout` s in all. Returns those that run."""
        deadline = time.monotonic() + timeout
        for start in range(0, len(names), batch):
            self.create(names[start : start + batch], health=health)
            self.wait_running(names[: start + batch], max(0.0, deadline - time.monotonic()))
        return self.running(names)

    def services(self) -> list[dict[str, Any]]:
        """Every service carrying the bench label (ours, or an earlier run's)."""
        found: list[dict[str, Any]] = self.client.api.services(  # type: ignore[no-untyped-call]
            filters={"label": f"{BENCH_LABEL}=1"}
        )
        return found

    def running(self, names: Sequence[str]) -> set[str]:
        """Which of `names` have a running task."""
        ids = {str(s["ID"]): str(s["Spec"]["Name"]) for s in self.services()}
        tasks = self.client.api.tasks(  # type: ignore[no-untyped-call]
            filters={"desired-state": "running"}
        )
        up = {
            ids[str(t.get("ServiceID"))]
            for t in tasks
            if str(t.get("ServiceID")) in ids and (t.get("Status") or {}).get("State") == "running"
        }
        return up & set(names)

    def wait_running(self, names: Sequence[str], timeout: float) -> set[str]:
        """Wait until every one of `names` runs (at most `timeout` s); those that do."""
        deadline = time.monotonic() + timeout
        up = self.running(names)
        while len(up) < len(names) and time.monotonic() < deadline:
            time.sleep(1.0)
            up = self.running(names)
        return up

    def remove(self, names: Sequence[str], timeout: float = 300.0) -> int:
        """Remove the bench-labelled services called `names` and wait until their
        containers are gone; how many there were."""
        wanted = set(names)
        return self._remove([s for s in self.services() if s["Spec"]["Name"] in wanted], timeout)

    def remove_gradually(self, names: Sequence[str], batch: int, timeout: float = 300.0) -> int:
        """`remove` `batch` services at a time (so their containers stop a few at a time)."""
        return sum(
            self.remove(names[start : start + batch], timeout)
            for start in range(0, len(names), batch)
        )

    def remove_all(self, timeout: float = 300.0) -> int:
        """Remove every bench-labelled service (ours, or an interrupted run's) and wait
        until their containers are gone; how many there were."""
        return self._remove(self.services(), timeout)

    def _remove(self, services: Sequence[Mapping[str, Any]], timeout: float) -> int:
        for service in services:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_service(service["ID"])  # type: ignore[no-untyped-call]
        names = {str(s["Spec"]["Name"]) for s in services}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            c.get("Labels", {}).get("com.docker.swarm.service.name") in names
            for c in self._containers()
        ):
            time.sleep(0.5)
        return len(services)

    def _containers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client.api.containers(
            all=True, filters={"label": f"{BENCH_LABEL}=1"}
        )
        return found

    @contextlib.contextmanager
    def deployed(self) -> Iterator[Fleet]:
        """Remove every bench-labelled service on the way out, also on errors and Ctrl-C."""
        try:
            yield self
        finally:
            if self.services():
                print("bench: removing the bench's extra services", file=sys.stderr, flush=True)
                self.remove_all()
