"""The deployed stack as the swarm benchmarks reach it.

The load generator runs on this machine but inside the gateway container's network
namespace (`nsenter --target <pid> --net`), so it reaches a function's task directly on
the overlay network (`http://<task IP>:8080/`) and the gateway on its own loopback
(`http://127.0.0.1:8080/function/<name>`): both paths start in the same place, and the
difference between them is exactly the gateway hop.

`swarm_unavailable_reason` says why the swarm variants cannot run here; `deployed_stack`
deploys the stack of the current sources with `scripts/up.sh` (and runs
`scripts/down.sh` afterwards only if it deployed it); `Stack` finds task containers,
their addresses and their processes; `Container` reads CPU time and peak RSS from /proc.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import docker
import docker.errors

from bench.processes import NotAvailable, http_status, peak_rss_bytes, tree_cpu_seconds
from tests.support import ROOT, StackSettings

DEFAULT_FUNCTION_PORT = 8080
PORT_LABEL = "com.faas.port"
SCALE_MAX_LABEL = "com.faas.scale.max"
SAMPLE_FUNCTIONS = ("catservice", "httpecho")
"""The stack's functions the swarm scenarios call: they must answer before a run."""


@dataclass(frozen=True)
class SwarmConfig:
    """The stack's settings, from the same variables and defaults as scripts/ and tests/e2e
    (`tests.support.StackSettings`)."""

    stack: str
    network: str
    gateway_port: int
    """The gateway's published port on the host."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SwarmConfig:
        """Read STACK_NAME, FUNCTIONS_NETWORK and FAAS_GATEWAY_PORT (or its old name
        GATEWAY_PORT), with the defaults of scripts/common.sh."""
        settings = StackSettings.from_env(env)
        return cls(settings.name, settings.network, settings.gateway_port)

    @property
    def host_url(self) -> str:
        """The gateway as the host reaches it (its host-mode published port)."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def service_name(self, function: str) -> str:
        """The full service name of one of the stack's functions (`func_catservice`)."""
        return f"{self.stack}_{function}"


@dataclass(frozen=True)
class TaskEndpoint:
    """One running task: its container, the container's main process and its address."""

    service: str
    container_id: str
    pid: int
    ip: str | None
    """The task's address on the functions network (None when it has none)."""


def task_endpoint(task: Mapping[str, Any], service: str, network: str) -> TaskEndpoint | None:
    """The endpoint of a task from the engine's task object, or None unless it runs.

    The address is the first one the task has on the network named `network`.
    """
    status = task.get("Status") or {}
    if status.get("State") != "running":
        return None
    container = status.get("ContainerStatus") or {}
    pid, container_id = container.get("PID"), container.get("ContainerID")
    if not isinstance(pid, int) or pid <= 0 or not container_id:
        return None
    ip = None
    for attachment in task.get("NetworksAttachments") or []:
        spec = (attachment.get("Network") or {}).get("Spec") or {}
        addresses = attachment.get("Addresses") or []
        if spec.get("Name") == network and addresses:
            ip = str(addresses[0]).split("/", 1)[0]
            break
    return TaskEndpoint(service, str(container_id), pid, ip)


def is_function(spec: Mapping[str, Any], networks: Collection[str]) -> bool:
    """Whether a service spec is a function the way the gateway sees it: attached to
    the functions network (by name or id) and not labelled `com.faas.function=false`."""
    labels = spec.get("Labels") or {}
    if str(labels.get("com.faas.function", "")).lower() == "false":
        return False
    attached = (spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or []
    return any(a.get("Target") in networks for a in attached)


def nsenter_prefix(pid: int, nsenter: str = "nsenter") -> list[str]:
    """The command prefix that runs a command in the network namespace of `pid`."""
    return [nsenter, f"--target={pid}", "--net", "--"]


def function_port(labels: Mapping[str, str]) -> int:
    """The port a function's watchdog listens on: its `com.faas.port` label, or 8080."""
    value = labels.get(PORT_LABEL, "")
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else DEFAULT_FUNCTION_PORT


def pid_in_container(cgroup_text: str, container_id: str) -> bool:
    """Whether a /proc/<pid>/cgroup text places the process in that container."""
    return bool(container_id) and container_id in cgroup_text


@dataclass(frozen=True)
class Container:
    """A task container, seen through its main process (the container's PID 1)."""

    label: str
    pid: int

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time of every process in the container's tree (reaped children included).

        Processes that `docker exec` starts (health checks) are not in that tree.
        """
        return {self.label: tree_cpu_seconds(self.pid)}

    def peak_rss(self) -> int:
        """VmHWM of the main process, in bytes."""
        return peak_rss_bytes(self.pid)

    def reset_peak_rss(self) -> bool:
        """Reset VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, root)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True


def docker_client() -> docker.DockerClient:
    """A client for the engine DOCKER_HOST names (the local socket by default)."""
    return docker.from_env(timeout=120)


def swarm_unavailable_reason() -> str | None:
    """Why the swarm variants cannot run on this machine, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not root (nsenter into the gateway container's network namespace needs root)"
    if shutil.which("nsenter") is None:
        return "nsenter is not installed (Debian's util-linux package)"
    try:
        client = docker_client()
        try:
            info = client.info()
        finally:
            client.close()
    except docker.errors.DockerException as err:
        return f"no Docker Engine answers ({err})"
    state = (info.get("Swarm") or {}).get("LocalNodeState")
    if state != "active":
        return f"swarm mode is not active here (state {state!r}; `docker swarm init`)"
    return None


def engine_version(client: docker.DockerClient) -> str:
    """The engine's version, e.g. `Docker Engine 20.10.24 (API 1.41)`."""
    version = client.version()
    return f"Docker Engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"


class Stack:
    """The deployed stack: its services' running tasks, their containers, the gateway."""

    def __init__(self, client: docker.DockerClient, config: SwarmConfig) -> None:
        self.client = client
        self.config = config

    def endpoints(self, service: str) -> list[TaskEndpoint]:
        """The running tasks of `service` (by exact name)."""
        try:
            found = self.client.api.inspect_service(service)  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            raise NotAvailable(f"service {service} is not deployed") from None
        tasks = self.client.api.tasks(  # type: ignore[no-untyped-call]
            filters={"service": found["ID"], "desired-state": "running"}
        )
        got = (task_endpoint(t, service, self.config.network) for t in tasks)
        return sorted((e for e in got if e is not None), key=lambda e: e.container_id)

    def endpoint(self, service: str) -> TaskEndpoint:
        """The one running task of `service` (the first, when it has several)."""
        found = self.endpoints(service)
        if not found:
            raise NotAvailable(f"service {service} has no running task")
        endpoint = found[0]
        try:
            cgroup = Path(f"/proc/{endpoint.pid}/cgroup").read_text()
        except OSError:
            cgroup = ""
        if not pid_in_container(cgroup, endpoint.container_id):
            raise NotAvailable(
                f"process {endpoint.pid} of {service}'s container is not visible here "
                "(is the engine on another machine?)"
            )
        return endpoint

    def gateway(self) -> TaskEndpoint:
        """The gateway's task (the stack runs one)."""
        return self.endpoint(self.config.service_name("gateway"))

    def function_target(self, function: str) -> tuple[TaskEndpoint, str, int]:
        """The task of one of the stack's functions, its address on the functions
        network, and the port its watchdog listens on."""
        service = self.config.service_name(function)
        endpoint = self.endpoint(service)
        if endpoint.ip is None:
            raise NotAvailable(f"{service}'s task has no address on {self.config.network}")
        return endpoint, endpoint.ip, function_port(self.service_labels(service))

    def service_spec(self, service: str) -> dict[str, Any]:
        """The service's spec as the engine holds it."""
        try:
            found = self.client.api.inspect_service(service)  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            raise NotAvailable(f"service {service} is not deployed") from None
        spec: dict[str, Any] = found["Spec"]
        return spec

    def service_labels(self, service: str) -> dict[str, str]:
        """The service's labels (where the gateway reads `com.faas.*`)."""
        return {str(k): str(v) for k, v in (self.service_spec(service).get("Labels") or {}).items()}

    def set_service_labels(self, service: str, labels: Mapping[str, str]) -> None:
        """Replace a service's labels, sending the rest of its spec back unchanged.

        Service labels are not part of the task template: no task is replaced. (The
        SDK's `Service.update` would fill in defaults that roll every task.)
        """
        found = self.client.api.inspect_service(service)  # type: ignore[no-untyped-call]
        spec = found["Spec"]
        self.client.api.update_service(
            found["ID"],
            found["Version"]["Index"],
            task_template=spec.get("TaskTemplate"),
            name=spec.get("Name"),
            labels=dict(labels),
            mode=spec.get("Mode"),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            networks=spec.get("Networks"),
            endpoint_spec=spec.get("EndpointSpec"),
        )

    def gateway_target_port(self) -> int:
        """The port the gateway listens on inside its container (what FAAS_GATEWAY_PORT
        publishes; 8080 in the stack)."""
        spec = self.service_spec(self.config.service_name("gateway"))
        ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
        published = [p for p in ports if p.get("PublishedPort") == self.config.gateway_port]
        return int(published[0].get("TargetPort", 8080)) if published else 8080

    def known_functions(self) -> list[str]:
        """Every function the gateway knows (`GET /system/functions`, admin credentials
        from secrets/); the stack's services on the functions network if those are
        missing."""
        secrets = ROOT / "secrets"
        try:
            user = (secrets / "basic-auth-user").read_text().strip()
            password = (secrets / "basic-auth-password").read_text().strip()
        except OSError:
            return self._functions_from_engine()
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request = urllib.request.Request(
            self.config.host_url + "/system/functions",
            headers={"Authorization": f"Basic {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                listed = json.loads(response.read())
        except (OSError, ValueError):
            return self._functions_from_engine()
        return sorted(str(f["name"]) for f in listed if isinstance(f, dict) and "name" in f)

    def _functions_from_engine(self) -> list[str]:
        network = self.client.api.inspect_network(self.config.network)
        services = self.client.api.services()  # type: ignore[no-untyped-call]
        targets = {self.config.network, str(network["Id"])}
        return sorted(str(s["Spec"]["Name"]) for s in services if is_function(s["Spec"], targets))

    @contextlib.contextmanager
    def replicas_pinned(self, services: Sequence[str]) -> Iterator[None]:
        """Keep the gateway's autoscaler from adding replicas to `services` meanwhile.

        Under c=64 it would scale a function up (5 calls in flight per replica), and the
        hop would then be compared against one direct task while new tasks start on
        the same two cores. A `com.faas.scale.max=1` label pins them; the original
        labels are put back afterwards, also on errors and Ctrl-C.
        """
        saved: dict[str, dict[str, str]] = {}
        try:
            for service in services:
                labels = self.service_labels(service)
                saved[service] = labels
                self.set_service_labels(service, {**labels, SCALE_MAX_LABEL: "1"})
            time.sleep(1.0)  # the gateway follows service events: let it see the label
            yield
        finally:
            for service, labels in saved.items():
                self._restore_labels(service, labels)

    def _restore_labels(self, service: str, labels: Mapping[str, str]) -> None:
        # The autoscaler may update the service at the same moment ("update out of
        # sequence"): read the version again and retry before giving up loudly.
        for attempt in range(5):
            try:
                self.set_service_labels(service, labels)
                return
            except docker.errors.DockerException as error:
                if attempt == 4:
                    print(
                        f"bench: could not put back the labels of {service} ({error}); "
                        f"remove the pin by hand: docker service update --label-rm "
                        f"{SCALE_MAX_LABEL} {service}",
                        file=sys.stderr,
                    )
                    return
                time.sleep(0.5)


def stack_answers(config: SwarmConfig) -> bool:
    """The gateway answers /healthz and the functions the scenarios call answer 200."""
    if http_status(config.host_url + "/healthz", timeout=3.0) != 200:
        return False
    for function in SAMPLE_FUNCTIONS:
        url = f"{config.host_url}/function/{config.service_name(function)}"
        status = http_status(url, timeout=10, body=b"{}")
        if status is None or status >= 400:
            return False
    return True


def _stack_listed(client: docker.DockerClient, stack: str) -> bool:
    services = client.api.services(  # type: ignore[no-untyped-call]
        filters={"label": f"com.docker.stack.namespace={stack}"}
    )
    return bool(services)


@contextlib.contextmanager
def deployed_stack(config: SwarmConfig, log: TextIO = sys.stderr) -> Iterator[Stack]:
    """The stack of the current sources, deployed with scripts/up.sh (as `make up`: it
    rebuilds only images whose sources changed, so an up-to-date stack costs seconds);
    removed again with scripts/down.sh at the end only if it was not deployed before."""
    client = docker_client()
    deployed_here = False
    try:
        deployed_here = not _stack_listed(client, config.stack)
        print("bench: scripts/up.sh (the stack of the current sources)", file=log, flush=True)
        started = time.monotonic()
        done = subprocess.run([str(ROOT / "scripts" / "up.sh")], check=False, timeout=1500)
        if done.returncode != 0:
            raise NotAvailable(f"scripts/up.sh failed (exit status {done.returncode})")
        print(f"bench: stack ready in {time.monotonic() - started:.0f} s", file=log, flush=True)
        if not stack_answers(config):
            raise NotAvailable("the stack does not answer after scripts/up.sh")
        yield Stack(client, config)
    finally:
        if deployed_here:
            print("bench: removing the stack this run deployed (scripts/down.sh)", file=log)
            subprocess.run([str(ROOT / "scripts" / "down.sh")], check=False, timeout=300)
        client.close()
