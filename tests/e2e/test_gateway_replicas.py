"""Two gateways on one swarm decide scaling once: the autoscaler's lease (docs/scaling.md).

A second gateway service runs from the stack's gateway image, with its environment,
secrets and Docker socket, on the functions network and with no published port; its
`GATEWAY_LEASE_SERVICE` names the stack's gateway service, so both contend for one lease.
Exactly one of them reports `gateway_autoscaler_leader 1`; when the leader goes, the other
takes over within a bounded wait.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx

from tests.e2e.conftest import GATEWAY_URL, Platform, docker, task_hostnames, wait_for

LEADER = re.compile(r"^gateway_autoscaler_leader (\S+)$", re.MULTILINE)
# Lease term (3 passes of 2 s) and a pass, with room for a slow swarm.
TAKEOVER_SECONDS = 60.0
# The longest a stopping gateway drains before it exits and gives the lease up: the
# stack's wait for a peer, the delay and the calls' bound (stack.yml, gateway/config.py).
DRAIN_SECONDS = 30.0 + 1.5 + 30.0
READ_METRICS = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=5).read().decode())"
)


def leader_value(exposition: str) -> float | None:
    """The gateway's `gateway_autoscaler_leader` (summed over its workers), if exposed."""
    found = LEADER.search(exposition)
    return float(found.group(1)) if found else None


def stack_gateway_leads() -> float | None:
    try:
        return leader_value(httpx.get(f"{GATEWAY_URL}/metrics", timeout=10).text)
    except httpx.HTTPError:
        return None


def service_leads(service: str) -> float | None:
    """Read a gateway's /metrics from inside its container (it publishes no port)."""
    containers = task_hostnames(service)
    if not containers:
        return None
    (container,) = containers
    output = docker("exec", container, "python3", "-c", READ_METRICS, check=False)
    return leader_value(output)


def second_gateway_options(platform: Platform, stack_gateway: str) -> list[str]:
    """`docker service create` options copying the stack gateway's env and secrets."""
    (attrs,) = json.loads(docker("service", "inspect", stack_gateway))
    container = attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    options = ["--network", platform.network, "--label", "com.faas.function=false",
               "--constraint", "node.role==manager", "--endpoint-mode", "dnsrr",
               "--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock",
               "--env", f"GATEWAY_LEASE_SERVICE={stack_gateway}"]  # fmt: skip
    for variable in container.get("Env") or []:
        options += ["--env", variable]
    for secret in container.get("Secrets") or []:
        options += ["--secret", f"source={secret['SecretName']},target={secret['File']['Name']}"]
    return [*options, container["Image"].split("@", 1)[0]]


def test_exactly_one_of_two_gateways_leads_and_the_other_takes_over(
    platform: Platform,
) -> None:
    stack_gateway = platform.service_name("gateway")
    second = f"e2e-gateway-{uuid.uuid4().hex[:8]}"
    scaled_down = False
    try:
        *options, image = second_gateway_options(platform, stack_gateway)
        docker("service", "create", "--detach", "--name", second, *options, image)
        wait_for(lambda: service_leads(second) is not None, f"{second} to serve /metrics",
                 timeout=120)  # fmt: skip

        def one_leader() -> bool:
            return (stack_gateway_leads(), service_leads(second)) in ((0.0, 1.0), (1.0, 0.0))

        wait_for(one_leader, "exactly one of the two gateways to lead", timeout=TAKEOVER_SECONDS)
        # And it stays that way: renewals keep the lease where it is.
        for _ in range(5):
            assert one_leader()

        if service_leads(second) == 1.0:
            docker("service", "rm", second)
            wait_for(lambda: stack_gateway_leads() == 1.0, "the stack's gateway to take over",
                     timeout=TAKEOVER_SECONDS)  # fmt: skip
        else:
            scaled_down = True
            docker("service", "scale", "--detach", f"{stack_gateway}=0")
            # The stack's gateway leads until it exits: it drains first, waiting for
            # another replica of its service, which scaling to 0 never brings
            # (GATEWAY_DRAIN_PEER_WAIT), then for its calls in flight (docs/scaling.md).
            wait_for(lambda: service_leads(second) == 1.0, f"{second} to take over",
                     timeout=DRAIN_SECONDS + TAKEOVER_SECONDS)  # fmt: skip
    finally:
        docker("service", "rm", second, check=False)
        if scaled_down:
            docker("service", "scale", "--detach", f"{stack_gateway}=1")
            wait_for(
                lambda: httpx.get(f"{GATEWAY_URL}/healthz", timeout=5).status_code == 200,
                "the stack's gateway to answer again",
                timeout=120,
            )
