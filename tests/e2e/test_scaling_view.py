"""One scaling view across gateway containers (docs/scaling.md, "One autoscaler").

The stack's gateway service is scaled to 2 replicas behind the stack's front, which
spreads the calls sent to `GATEWAY_URL` over both. A function whose calls take a few
seconds gets 8 of them in flight at all times, at `target=2` calls in flight a replica:
it needs 4 replicas, which the elected autoscaler only sees if it adds the other
gateway's calls to its own (with its own half alone it would ask for 2). Both gateways
must have had a fair share of the calls, or the test proves nothing.

Needs the front of issue 31 (the gateway service on the overlay behind it, so two
replicas can run on one node); the gateway's replica count is put back afterwards.
"""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from tests.e2e.conftest import (
    GATEWAY_URL,
    Platform,
    ServiceFactory,
    docker,
    task_hostnames,
    wait_for,
)
from tests.e2e.test_scaling import IMAGE, desired_replicas, report

GATEWAYS = 2
CALLERS = 8
CALL_SECONDS = 3
TARGET = 2
NEEDED = CALLERS // TARGET  # 4; each gateway's half alone: 2
LOAD_SECONDS_MAX = 180.0
READ_METRICS = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=5).read().decode())"
)


def metrics_of(container: str) -> str:
    """One gateway container's /metrics, read from inside it (through the front, the
    front would pick the gateway)."""
    return docker("exec", container, "python3", "-c", READ_METRICS, check=False)


def container_metric(container: str, pattern: str) -> float:
    """The sum of the samples matching `pattern` in one gateway container's /metrics."""
    text = metrics_of(container)
    return sum(float(value) for value in re.findall(rf"^{pattern} (\S+)$", text, re.MULTILINE))


def started_through(container: str, function: str) -> float:
    return container_metric(
        container,
        rf'gateway_function_invocation_started\{{[^}}]*function_name="{function}"[^}}]*\}}',
    )


def test_scaling_counts_the_calls_through_every_gateway(
    platform: Platform, make_service: ServiceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = platform.service_name("gateway")
    before = desired_replicas(gateway)
    name = make_service(
        IMAGE, "--endpoint-mode", "dnsrr",
        "--env", f"fprocess=sh -c 'sleep {CALL_SECONDS}; cat'",
        "--label", "com.faas.scale.min=1", "--label", f"com.faas.scale.max={NEEDED}",
        "--label", f"com.faas.scale.target={TARGET}",
        # No scale-down while the test looks: only the way up is measured.
        "--label", "com.faas.scale.cooldown=5m",
    )  # fmt: skip
    stop = threading.Event()
    failures: list[str] = []
    try:
        docker("service", "scale", "--detach", f"{gateway}={GATEWAYS}")
        wait_for(lambda: len(task_hostnames(gateway)) == GATEWAYS,
                 f"{GATEWAYS} gateway containers", timeout=120)  # fmt: skip
        wait_for(
            lambda: all(
                "gateway_autoscaler_leader" in metrics_of(c) for c in task_hostnames(gateway)
            ),
            "both gateways to serve",
            timeout=120,
        )
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            wait_for(lambda: http.post(f"/function/{name}", content=b"x").status_code == 200,
                     f"{name} to answer", timeout=120)  # fmt: skip

        def call_in_a_loop() -> None:
            # A client each: its own connections, which the front spreads.
            with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
                deadline = time.monotonic() + LOAD_SECONDS_MAX
                while not stop.is_set() and time.monotonic() < deadline:
                    reply = http.post(f"/function/{name}", content=b"ping")
                    if reply.status_code != 200 or reply.content != b"ping":
                        failures.append(f"{reply.status_code} {reply.text[:80]!r}")

        started = time.monotonic()
        callers = [threading.Thread(target=call_in_a_loop, daemon=True) for _ in range(CALLERS)]
        for caller in callers:
            caller.start()
        wait_for(lambda: desired_replicas(name) >= NEEDED, f"{name} at {NEEDED} replicas",
                 timeout=120)  # fmt: skip
        scaled_after = time.monotonic() - started

        containers = sorted(task_hostnames(gateway))
        shares = [started_through(container, name) for container in containers]
        leaders = [container_metric(c, "gateway_autoscaler_leader") for c in containers]
        peers = [container_metric(c, "gateway_autoscaler_peers") for c in containers]
    finally:
        stop.set()
        docker("service", "scale", "--detach", f"{gateway}={before}")
    assert failures == [], f"{len(failures)} failed call(s): {failures[:5]}"
    # The front spread the calls: each gateway had a fair share (else half a view would do).
    assert all(share >= sum(shares) / 4 for share in shares), shares
    assert sorted(leaders) == [0.0, 1.0], leaders
    assert peers[leaders.index(1.0)] == GATEWAYS, peers
    report(
        capsys,
        f"{name}: {CALLERS} callers of {CALL_SECONDS}s calls through {GATEWAYS} gateways "
        f"(calls started per gateway: {', '.join(f'{s:.0f}' for s in shares)})",
        f"replicas 1 -> {NEEDED} after {scaled_after:.1f}s; the decider heard from "
        f"{peers[leaders.index(1.0)]:.0f} gateways",
    )
    wait_for(
        lambda: (
            httpx.get(f"{GATEWAY_URL}/healthz", timeout=5).status_code == 200
            and len(task_hostnames(gateway)) == before
        ),
        f"the gateway back at {before} replica(s)",
        timeout=120,
    )
