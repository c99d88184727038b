"""A multi-node swarm on this machine (issue 21): functions on other nodes, a drained node
and a killed node under load, scale from zero and autoscaling onto another node, and
jobs (issue 37) on the worker nodes.

`scripts/cluster.sh up` adds two worker nodes (Docker Engines in containers, joined to
this machine's swarm) and a registry; the functions here are pushed there and run with
its image names. The stack's own services stay on this machine (the manager). The
cluster is taken down at the end. Figures are printed, not asserted (docs/benchmarks.md,
"Multi-node").
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from functools import partial

import httpx
import pytest

from tests.e2e.conftest import (
    FUNCTIONS_NETWORK,
    ROOT,
    Platform,
    credentials,
    docker,
    wait_for,
)
from tests.e2e.loops import RequestLoop, non_empty
from tests.e2e.test_async import status, wait_for_state

REGISTRY_PREFIX = "localhost:5000/faas"
IMAGE = f"{REGISTRY_PREFIX}/catservice:latest"
NODES = ("faas-node-1", "faas-node-2")
LOOP_CONNECTIONS = 8


def report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    with capsys.disabled():
        print()
        for line in lines:
            print(f"[cluster] {line}")


def run(*command: str, env: dict[str, str] | None = None, timeout: float = 900) -> float:
    """Run a script of the repo; the seconds it took (its output shown on failure)."""
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return time.monotonic() - started


@pytest.fixture(scope="module")
def cluster(platform: Platform) -> Iterator[dict[str, float]]:
    """Two extra nodes and the registry, with the function images pushed there; the
    seconds each took."""
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("the cluster's nodes are containers with an engine inside: run as root")
    try:
        started = run(str(ROOT / "scripts" / "cluster.sh"), "up")
        pushed = run(str(ROOT / "scripts" / "images.sh"),
                     env={"FUNCTION_IMAGE_PREFIX": REGISTRY_PREFIX})  # fmt: skip
        yield {"cluster up": started, "images built (cached) and pushed": pushed}
    finally:
        run(str(ROOT / "scripts" / "cluster.sh"), "down")


def service(*options: str, image: str = IMAGE) -> str:
    name = f"e2e-node-{uuid.uuid4().hex[:6]}"
    docker("service", "create", "--detach", "--network", FUNCTIONS_NETWORK,
           "--endpoint-mode", "dnsrr", "--name", name, *options, image)  # fmt: skip
    return name


def running_nodes(name: str) -> list[str]:
    """The node of each running task of a service."""
    lines = docker("service", "ps", name, "--filter", "desired-state=running",
                   "--format", "{{.Node}} {{.CurrentState}}")  # fmt: skip
    return [line.split()[0] for line in lines.splitlines() if " Running " in f" {line} "]


def placed_nodes(name: str) -> list[str]:
    """The node of each task of a service that should run, whatever its state."""
    nodes = docker("service", "ps", name, "--filter", "desired-state=running",
                   "--format", "{{.Node}}")  # fmt: skip
    return nodes.split()


def call(client: httpx.Client, name: str, body: bytes = b"ping") -> httpx.Response:
    return client.post(f"/function/{name}", content=body)


def answers(client: httpx.Client, name: str) -> bool:
    return call(client, name).status_code == 200


@pytest.fixture(scope="module")
def spread(cluster: dict[str, float], client: httpx.Client) -> Iterator[str]:
    """Six replicas answering with their host name, spread over the three nodes."""
    name = service("--replicas", "6", "--placement-pref", "spread=node.id",
                   "--env", "fprocess=hostname")  # fmt: skip
    try:
        wait_for(lambda: len(set(running_nodes(name))) == 3 and len(running_nodes(name)) == 6,
                 f"{name}'s 6 replicas on 3 nodes", timeout=180)  # fmt: skip
        wait_for(lambda: call(client, name).status_code == 200, f"{name} to answer")
        yield name
    finally:
        docker("service", "rm", name, check=False)


def test_round_robin_reaches_every_replica_on_every_node(
    cluster: dict[str, float],
    spread: str,
    client: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report(capsys, *(f"{what}: {seconds:.1f}s" for what, seconds in cluster.items()))
    nodes = running_nodes(spread)
    hostnames: set[str] = set()

    # The gateway's workers each keep their own round robin: enough calls for every one.
    def answered_by_all() -> bool:
        hostnames.add(call(client, spread).text.strip())
        return len(hostnames) == 6

    wait_for(answered_by_all, "every replica to answer", timeout=120)
    assert len(hostnames) == 6
    report(capsys, f"{spread}: 6 replicas on {sorted(set(nodes))}, all 6 answered")


def test_same_node_and_cross_node_hops(
    cluster: dict[str, float], client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    here = service("--constraint", "node.role==manager")
    there = service("--constraint", f"node.hostname=={NODES[0]}")
    try:
        medians: dict[str, list[float]] = {}
        for name in (here, there):
            wait_for(partial(answers, client, name), f"{name} to answer", timeout=180)
        for _ in range(3):  # interleaved rounds, the median of each
            for name in (here, there):
                times = []
                for _ in range(100):
                    started = time.perf_counter()
                    assert call(client, name).status_code == 200
                    times.append(time.perf_counter() - started)
                medians.setdefault(name, []).append(statistics.median(times))
        same, cross = (statistics.median(medians[name]) * 1000 for name in (here, there))
        report(capsys, f"call through the gateway, median of 3x100: same node {same:.2f} ms, "
               f"other node {cross:.2f} ms (+{cross - same:.2f} ms over the overlay)")  # fmt: skip
    finally:
        docker("service", "rm", here, there, check=False)


def test_scale_from_zero_onto_another_node(
    cluster: dict[str, float], client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    name = service("--replicas", "0", "--constraint", f"node.hostname=={NODES[1]}",
                   "--label", "com.faas.scale.zero=true")  # fmt: skip
    try:
        # The node has the image already after the first pull: pull it once, then park.
        docker("service", "scale", "--detach=false", f"{name}=1")
        docker("service", "scale", "--detach=false", f"{name}=0")
        wait_for(lambda: not running_nodes(name), f"{name} at 0")
        time.sleep(2)  # the gateway's view follows the engine's events
        started = time.monotonic()
        reply = call(client, name, b"awake")
        seconds = time.monotonic() - started
        assert (reply.status_code, reply.content) == (200, b"awake"), reply.text
        # Answered before Swarm calls the task healthy (the gateway's own probe): it may
        # still be `starting`.
        assert placed_nodes(name) == [NODES[1]]
        report(capsys, f"{name}: woke on {NODES[1]}, first answer after {seconds:.2f}s")
    finally:
        docker("service", "rm", name, check=False)


def test_autoscaling_adds_replicas_on_the_workers(
    cluster: dict[str, float], client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    name = service("--constraint", "node.role==worker",
                   "--env", "fprocess=sh -c 'sleep 0.5; cat'",
                   "--label", "com.faas.scale.min=1", "--label", "com.faas.scale.max=3",
                   "--label", "com.faas.scale.target=2")  # fmt: skip
    try:
        wait_for(lambda: call(client, name).status_code == 200, f"{name} to answer", timeout=180)
        with RequestLoop(name, LOOP_CONNECTIONS, non_empty) as loop:
            wait_for(lambda: len(running_nodes(name)) > 1, f"{name} to scale above 1",
                     timeout=120)  # fmt: skip
            time.sleep(2)  # calls reach the new replica too
        nodes = running_nodes(name)
        assert loop.failures == [], f"{len(loop.failures)} failed: {loop.failures[:3]}"
        report(capsys, f"{name}: {LOOP_CONNECTIONS} callers, {loop.calls} calls, 0 failed; "
               f"replicas on {sorted(nodes)}")  # fmt: skip
    finally:
        docker("service", "rm", name, check=False)


def job_nodes(function: str) -> set[str]:
    """The nodes the job services of `function` have tasks on now."""
    jobs = docker("service", "ls", "-q", "--filter", f"label=com.faas.job.function={function}")
    # A job's task wants the state `complete`, not `running`: no desired-state filter. A
    # job may be removed between the two commands (it ended): no check.
    lines = (docker("service", "ps", job, "--format", "{{.Node}}", check=False)
             for job in jobs.split())  # fmt: skip
    return {node for nodes in lines for node in nodes.split()}


def test_jobs_run_on_the_worker_nodes(
    cluster: dict[str, float], client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job function constrained to workers: each call's fresh container lands there."""
    name = service("--replicas", "0", "--constraint", "node.role==worker",
                   "--label", "com.faas.mode=job", "--env", "fprocess=sh -c 'sleep 4; hostname'",
                   image=f"{REGISTRY_PREFIX}/sha256job:latest")  # fmt: skip
    try:
        wait_for(lambda: client.get(f"/system/function/{name}", auth=credentials()).is_success,
                 f"the gateway to know {name}")  # fmt: skip
        ids = []
        for _ in range(4):
            reply = client.post(f"/async-function/{name}", content=b"x")
            assert reply.status_code == 202, reply.text
            ids.append(reply.headers["X-Call-Id"])
        nodes: set[str] = set()

        def all_ended() -> bool:
            nodes.update(job_nodes(name))
            return all(status(client, call_id)["state"] in ("succeeded", "failed")
                       for call_id in ids)  # fmt: skip

        wait_for(all_ended, f"{name}'s 4 jobs to end", timeout=300)
        records = [wait_for_state(client, call_id, "succeeded") for call_id in ids]
        hosts = {str(record["body"]).strip() for record in records}
        assert nodes, "no job task seen"
        assert nodes <= set(NODES), nodes
        assert len(hosts) == 4  # four fresh containers
        report(capsys, f"{name}: 4 jobs in 4 containers, on {sorted(nodes)}")
    finally:
        docker("service", "rm", name, check=False)


def test_a_drained_node_loses_no_call(
    spread: str, client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    node = NODES[0]
    try:
        with RequestLoop(spread, LOOP_CONNECTIONS, non_empty) as loop:
            time.sleep(2)
            started = time.monotonic()
            docker("node", "update", "--availability", "drain", node)
            wait_for(lambda: node not in running_nodes(spread) and len(running_nodes(spread)) == 6,
                     f"{spread}'s replicas to leave {node}", timeout=180)  # fmt: skip
            moved = time.monotonic() - started
            time.sleep(2)
    finally:
        docker("node", "update", "--availability", "active", node)
    assert loop.failures == [], f"{len(loop.failures)} of {loop.calls} failed: {loop.failures[:3]}"
    report(capsys, f"drain {node} under c={LOOP_CONNECTIONS}: {loop.calls} calls, 0 failed; "
           f"replicas moved in {moved:.1f}s")  # fmt: skip


def test_a_killed_node_is_routed_around(
    spread: str, client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    node = NODES[1]
    docker("service", "update", "--detach=false", "--quiet", "--force", spread)  # rebalance
    assert node in running_nodes(spread)
    with RequestLoop(spread, LOOP_CONNECTIONS, non_empty) as loop:
        time.sleep(2)
        killed = time.monotonic()
        docker("kill", node)
        wait_for(lambda: docker("node", "inspect", node, "--format", "{{.Status.State}}")
                 .strip() == "down", f"the swarm to see {node} down", timeout=120)  # fmt: skip
        seen_down = time.monotonic() - killed
        wait_for(lambda: node not in running_nodes(spread) and len(running_nodes(spread)) == 6,
                 f"{spread}'s replicas to be rescheduled", timeout=180)  # fmt: skip
        rescheduled = time.monotonic() - killed
        time.sleep(5)  # calls after the recovery: none may fail
        quiet_since = time.monotonic() - 4
    failed = loop.failures
    last = max((at for at, _ in failed), default=killed) - killed
    # A call under way on the node when it died gets no reset from it: it fails when the
    # gateway's TCP keepalive gives up (about 11 s), counted by when it started.
    assert all(at < quiet_since for at, _ in failed), f"calls still failing: {failed[-3:]}"
    hung = sum("stopped answering" in reason for _, reason in failed)
    report(capsys, f"kill {node} under c={LOOP_CONNECTIONS}: {loop.calls} calls, {len(failed)} "
           f"failed ({hung} under way on the node: its host stopped answering), the last "
           f"started {last:.1f}s after the kill; swarm saw it down after "
           f"{seen_down:.1f}s, replicas rescheduled after {rescheduled:.1f}s",
           *(f"  e.g. {reason}" for _, reason in failed[:2]))  # fmt: skip
