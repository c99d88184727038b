"""A service that takes the gateway's name on the functions network (issue 15, item 10).

Functions reach the gateway as `gateway`: `docker stack deploy` gives the stack's
`func_gateway` that alias. A service *named* `gateway` on the same network claims the same
name, and Docker's DNS does not prefer the stack's (moby/moby issue 41532 reports such
names answered by either service). The API refuses the name (the stack's service names
are reserved); what remains is a service created outside the API, by someone with the
Docker API (and so root on the node already): this test records on the real swarm what
such a service does to resolution. Run by the lead with the swarm suite.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import docker
import docker.types
import httpx

from tests.e2e.conftest import Platform, credentials, wait_for
from tests.e2e.conftest import docker as docker_cli

IMPOSTOR = "gateway"
LOOKUPS = 20


def function_container(platform: Platform) -> str:
    """A running container of the stack's `catservice`: where a function resolves names."""
    service = platform.service_name("catservice")
    ids = docker_cli("ps", "--filter", f"label=com.docker.swarm.service.name={service}",
                     "--filter", "status=running", "--format", "{{.ID}}").split()  # fmt: skip
    assert ids, f"no running container of {service}"
    return ids[0]


def addresses(container: str, name: str) -> set[str]:
    """The IPv4 addresses `name` resolves to inside `container` (empty if none)."""
    output = docker_cli("exec", container, "getent", "ahostsv4", name, check=False)
    return {line.split()[0] for line in output.splitlines() if line.strip()}


def answers(container: str, name: str) -> set[str]:
    """Every address `name` resolved to over several lookups (the order rotates)."""
    seen: set[str] = set()
    for _ in range(LOOKUPS):
        seen |= addresses(container, name)
    return seen


def task_addresses(service: Any, network: str) -> set[str]:
    """The overlay addresses the engine gave a service's running tasks on `network`."""
    found: set[str] = set()
    for task in service.tasks(filters={"desired-state": "running"}):
        for attachment in task.get("NetworksAttachments") or ():
            if attachment.get("Network", {}).get("Spec", {}).get("Name") == network:
                found.update(address.split("/")[0] for address in attachment.get("Addresses", ()))
    return found


def impostor_is_running(service: Any) -> bool:
    """Whether a task of `service` runs and has passed its health check (so it is in DNS)."""
    for task in service.tasks(filters={"desired-state": "running"}):
        if task.get("Status", {}).get("State") == "running":
            container = task["Status"].get("ContainerStatus", {}).get("ContainerID", "")
            health = docker_cli("inspect", "--format", "{{.State.Health.Status}}", container,
                                check=False).strip()  # fmt: skip
            return health == "healthy"
    return False


def test_the_gateways_name_cannot_be_deployed_and_what_an_impostor_does(
    platform: Platform,
) -> None:
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=60) as api:
        wait_for(lambda: api.get("/system/info").status_code == 200,
                 "the gateway's management API", timeout=180)  # fmt: skip
        reply = api.post(
            "/system/functions", json={"service": IMPOSTOR, "image": "localhost/faas/catservice"}
        )
    assert reply.status_code == 400, reply.text
    assert "reserved" in reply.json()["error"]

    container = function_container(platform)
    real = addresses(container, f"tasks.{platform.service_name('gateway')}")
    assert real, "the gateway's tasks resolve on the functions network"
    assert answers(container, "gateway") == real, "`gateway` is the stack's gateway"

    engine = docker.from_env()
    impostor = engine.services.create(  # type: ignore[no-untyped-call]
        "localhost/faas/catservice:latest",
        name=IMPOSTOR,
        networks=[platform.network],
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        labels={"com.faas.e2e": f"impostor-{uuid.uuid4().hex[:6]}"},
    )
    try:
        # `tasks.gateway` also names the stack gateway's tasks (its alias), so the
        # impostor's own address comes from the engine, not from DNS.
        wait_for(lambda: bool(task_addresses(impostor, platform.network)),
                 "the impostor's task to get an address", timeout=120)  # fmt: skip
        impostor_addresses = task_addresses(impostor, platform.network)
        assert not impostor_addresses & real
        # Give the impostor's task the time to become healthy and enter DNS.
        wait_for(lambda: bool(answers(container, "gateway") & impostor_addresses)
                 or impostor_is_running(impostor), "the impostor's task to run",
                 timeout=120)  # fmt: skip
        seen = answers(container, "gateway")
        # What must hold whatever Docker does: the real gateway stays among the answers,
        # and its full service name stays unambiguous.
        assert real <= seen, f"`gateway` lost the real gateway: {seen}, real {real}"
        assert answers(container, platform.service_name("gateway")) == real
        shadowed = bool(seen & impostor_addresses)
        # The finding, for the lead's report (README's Security section states it).
        warnings.warn(
            f"a service named {IMPOSTOR!r} created outside the API "
            + ("DOES" if shadowed else "does NOT")
            + f" answer for `gateway` on {platform.network}: answers {sorted(seen)}, "
            f"real gateway {sorted(real)}, impostor {sorted(impostor_addresses)}",
            stacklevel=1,
        )
    finally:
        impostor.remove()
        engine.close()
    wait_for(lambda: answers(container, "gateway") == real,
             "`gateway` to name only the real gateway again", timeout=60)  # fmt: skip
