"""The stack's gateway runs several worker processes, and they add up to one gateway.

Scaling with several workers (decided once, woken once) is checked in test_scaling.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.config import load_config
from tests.e2e.conftest import GATEWAY_URL, Platform, ServiceFactory, docker, wait_for
from tests.e2e.test_scaling import metric_with

IMAGE = "localhost/faas/catservice:latest"
CALLS = 200


def gateway_workers(platform: Platform) -> int:
    """How many worker processes the gateway's container runs."""
    service = platform.service_name("gateway")
    label = f"label=com.docker.swarm.service.name={service}"
    (container,) = docker("ps", "-q", "--filter", label).split()
    processes = docker("top", container, "-eo", "pid,args")
    return sum("multiprocessing.spawn" in line for line in processes.splitlines())


def invocations(function: str) -> float:
    """Sum of gateway_function_invocation_total for `function`, from one scrape."""
    return metric_with("gateway_function_invocation_total", function)


def test_the_gateway_runs_at_least_two_workers(platform: Platform) -> None:
    assert gateway_workers(platform) >= 2


def test_metrics_count_every_call_exactly_once(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name = make_service(IMAGE, "--endpoint-mode", "dnsrr")
    wait_for(lambda: client.post(f"/function/{name}", content=b"x").status_code == 200,
             f"{name} to answer", timeout=120)  # fmt: skip
    before = invocations(name)

    def call(i: int) -> int:
        # A new connection per call: the kernel spreads them over the workers.
        reply = httpx.post(f"{GATEWAY_URL}/function/{name}", content=f"{i}", timeout=60)
        return reply.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(call, range(CALLS)))
    assert codes == [200] * CALLS
    # Whichever worker answers a scrape, it counts every worker's calls, each once.
    assert [invocations(name) - before for _ in range(10)] == [CALLS] * 10


def test_the_engine_leaves_the_gateway_its_drain_before_sigkill(platform: Platform) -> None:
    """stack.yml's `stop_grace_period` reaches the deployed service, above the drain's two
    phases as the gateway reads them (docs/scaling.md, "Stopping")."""
    (attrs,) = json.loads(docker("service", "inspect", platform.service_name("gateway")))
    container = attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    grace_seconds = container.get("StopGracePeriod", 0) / 1e9
    env = dict(variable.split("=", 1) for variable in container.get("Env") or [])
    drain = load_config({name: value for name, value in env.items()
                         if name.startswith("GATEWAY_DRAIN_")})  # fmt: skip
    assert grace_seconds > drain.drain_peer_wait + drain.drain_delay + drain.drain_timeout
