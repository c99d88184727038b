"""Scenario 7: killing the gateway under load, and what it costs the callers.

- 7 (local): a gateway with one worker per CPU (at least 2) in front of the echo
  upstream; under a c=16 request loop (bench/load_loop.py), SIGKILL one worker process
  (a child of the `python -m gateway` supervisor that holds the listening socket).
  Reports the failed calls and why, against the client connections that worker held,
  and whether (and when) the supervisor started a new worker. Once per round.
- 7 swarm: under the same loop from the host, through the front (the published port),
  `docker kill` one of two gateway containers, then `docker service update --force` the
  gateway (what an upgrade does). Reports the failed calls and the longest time without
  a good answer. Once per run: it replaces the stack's gateway.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

import docker.errors

from bench.load_loop import KillLoop, KillSummary
from bench.processes import (
    NotAvailable,
    Server,
    connections_held,
    listening_children,
    start_echo,
    start_gateway,
)
from bench.report import Run
from bench.scenarios import BODY, Bench, check, cpu_count, progress, touch
from bench.swarm import SwarmBench
from bench.swarm_stack import Container, nsenter_prefix, stack_answers

CONCURRENCY = 16
BACKOFF_S = 0.1
"""How long a client waits after a failed call before its next one."""
SWARM_MAX_S = 120.0
"""How long the swarm variant waits for a good answer after the kill."""


def no_workers_reason(gateway: Server, asked: int) -> str:
    """Why the local kill cannot run: the gateway started no worker processes."""
    return (
        f"GATEWAY_WORKERS={asked} was set but `python -m gateway` (pid {gateway.pid}) has no "
        "child process listening on its port: this gateway runs one process, and killing "
        "it is the swarm variant's case"
    )


def wait_workers(gateway: Server, count: int, timeout: float, gone: int | None = None) -> list[int]:
    """Poll until the gateway has `count` worker processes (none of them `gone`); the
    workers seen last (fewer when the time ran out)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [w for w in listening_children(gateway.pid, gateway.port) if w != gone]
        if len(workers) >= count or time.monotonic() >= deadline:
            return workers
        time.sleep(0.05)


class WorkerKill:
    """SIGKILL one worker (when called), then watch for the supervisor's new one."""

    def __init__(self, gateway: Server, victim: int, workers: int) -> None:
        self.gateway = gateway
        self.victim = victim
        self.workers = workers
        self.connections = 0
        """Client connections the victim held just before the kill."""
        self._found: list[float] = []
        self._watch: threading.Thread | None = None

    def __call__(self) -> None:
        self.connections = connections_held(self.victim, self.gateway.port)
        killed_at = time.monotonic()
        os.kill(self.victim, signal.SIGKILL)
        self._watch = threading.Thread(target=self._wait, args=(killed_at,), daemon=True)
        self._watch.start()

    def _wait(self, killed_at: float) -> None:
        found = wait_workers(self.gateway, self.workers, timeout=60.0, gone=self.victim)
        if len(found) >= self.workers:
            self._found.append(time.monotonic() - killed_at)

    def replaced_after(self, timeout: float) -> float | None:
        """Seconds from the kill until the gateway had as many workers again, or None."""
        if self._watch is not None:
            self._watch.join(timeout)
        return self._found[0] if self._found else None


def kill_summary_run(sc: str, label: str, summaries: Sequence[KillSummary], note: str) -> Run:
    """A row for the runs table: medians of the failed calls (as errors, summed)."""
    return Run(
        scenario=sc,
        label=label,
        concurrency=CONCURRENCY,
        rps=None,
        p50_ms=None,
        p99_ms=None,
        errors=sum(s.failed for s in summaries),
        rounds=len(summaries),
        note=note,
    )


def describe(summary: KillSummary) -> str:
    """`3 of 5,120 calls failed (3 ConnectionResetError)`."""
    return f"{summary.failed} of {summary.calls:,} calls failed ({summary.errors_text()})"


def seconds(value: float | None) -> str:
    """A time from the kill, or "never"."""
    return "never" if value is None else f"{value:.2f} s"


def worker_kill(b: Bench) -> None:
    """Scenario 7 (local): SIGKILL one gateway worker under a c=16 loop, once per round."""
    sc = "7"
    asked = max(2, cpu_count())
    s = b.settings
    rounds = min(s.rounds, 3)
    summaries: list[KillSummary] = []
    held: list[int] = []
    back_s: list[float | None] = []
    with ExitStack() as stack:
        echo = stack.enter_context(start_echo(b.tmp))
        gateway = stack.enter_context(
            start_gateway(b.tmp, {"echo": f"127.0.0.1:{echo.port}"}, name="gateway", workers=asked)
        )
        path = "/function/echo"
        touch(gateway.base_url + path)
        workers = wait_workers(gateway, asked, timeout=10.0)
        if not workers:
            raise NotAvailable(no_workers_reason(gateway, asked))
        for round_no in range(rounds):
            workers = wait_workers(gateway, len(workers), timeout=10.0)
            round_kill = WorkerKill(gateway, workers[0], len(workers))
            loop = KillLoop("127.0.0.1", gateway.port, path, BODY, CONCURRENCY, backoff_s=BACKOFF_S)
            summary = loop.run(round_kill, before_s=s.duration_s, after_s=s.duration_s, max_s=30.0)
            came_back = round_kill.replaced_after(timeout=20.0)
            summaries.append(summary)
            held.append(round_kill.connections)
            back_s.append(came_back)
            progress(
                f"  [{sc} round {round_no + 1}/{rounds}] killed worker {round_kill.victim} of "
                f"{len(workers)} (it held {round_kill.connections} client connections): "
                f"{describe(summary)}; a new worker after {seconds(came_back)}"
            )
            if came_back is None:
                break
    b.report.runs.append(
        kill_summary_run(
            sc,
            f"gateway, {len(workers)} workers: SIGKILL one under a c={CONCURRENCY} loop",
            summaries,
            "; ".join(describe(x) for x in summaries),
        )
    )
    failed = statistics.median(x.failed for x in summaries)
    within = all(x.failed <= h for x, h in zip(summaries, held, strict=True))
    check(
        b,
        sc,
        f"kill 1 of {len(workers)} gateway workers under a c={CONCURRENCY} loop: failed calls",
        f"{failed:g} (median of {len(summaries)}; {summaries[-1].errors_text()})",
        f"client connections the worker held: {', '.join(map(str, held))}",
        "≤ its connections",
        within,
    )
    check(
        b,
        sc,
        "the supervisor starts a new worker",
        ", ".join("no" if x is None else "yes" for x in back_s),
        f"rounds: {len(back_s)}",
        "yes",
        all(x is not None for x in back_s),
    )


def gateway_kill_swarm(sb: SwarmBench) -> None:
    """Scenario 7 on the swarm, through the front: `docker kill` one of two gateway
    containers, then `docker service update --force` the gateway, each under a c=16 loop."""
    sc = "7 swarm"
    b, stack = sb.bench, sb.stack
    config = stack.config
    sb.refresh(sc)
    gateway = config.service_name("gateway")
    path = f"/function/{config.service_name('httpecho')}"
    touch(config.host_url + path)
    old_pid = sb.gateway.pid
    summaries: list[tuple[str, KillSummary]] = []
    with gateway_replicas(sb, gateway, 2) as containers:
        loop = KillLoop("127.0.0.1", config.gateway_port, path, BODY, CONCURRENCY,
                        backoff_s=BACKOFF_S)  # fmt: skip
        summary = loop.run(docker_kill(sb, containers[0]), before_s=b.settings.duration_s,
                           after_s=b.settings.duration_s, max_s=SWARM_MAX_S)  # fmt: skip
        summaries.append(("docker kill of 1 of 2 gateway containers", summary))
    loop = KillLoop("127.0.0.1", config.gateway_port, path, BODY, CONCURRENCY,
                    backoff_s=BACKOFF_S)  # fmt: skip
    summary = loop.run(force_update(gateway), before_s=b.settings.duration_s,
                       after_s=b.settings.duration_s, max_s=SWARM_MAX_S)  # fmt: skip
    summaries.append(("docker service update --force of the gateway (1 replica)", summary))
    follow_new_gateway(sb, old_pid, timeout=SWARM_MAX_S)
    for label, summary in summaries:
        progress(f"  [{sc}] {label}: {describe(summary)}; longest time without a good "
                 f"answer {seconds(summary.longest_gap_s)}")  # fmt: skip
        b.report.runs.append(
            kill_summary_run(
                sc,
                f"{label}, c={CONCURRENCY} loop through the front",
                [summary],
                f"{describe(summary)}; longest time without a good answer "
                f"{seconds(summary.longest_gap_s)}",
            )
        )
        check(
            b,
            sc,
            f"{label} under a c={CONCURRENCY} loop: failed calls; longest time without a "
            "good answer",
            f"{summary.failed} of {summary.calls:,}; {seconds(summary.longest_gap_s)}",
            "0 (update); the calls in flight on it (kill); 0.5 s",
            "—",
            None,
        )


@contextmanager
def gateway_replicas(sb: SwarmBench, service: str, count: int) -> Iterator[list[str]]:
    """The gateway service at `count` healthy replicas (their container ids), and back
    to its own count afterwards."""
    services = sb.stack.client.services
    before = services.get(service).attrs["Spec"]["Mode"]["Replicated"]["Replicas"]  # type: ignore[no-untyped-call]
    services.get(service).scale(count)  # type: ignore[no-untyped-call]
    try:
        yield wait_healthy(sb, service, count)
    finally:
        services.get(service).scale(before)  # type: ignore[no-untyped-call]
        wait_healthy(sb, service, before)


def wait_healthy(sb: SwarmBench, service: str, count: int) -> list[str]:
    """The ids of `count` healthy containers of `service`'s tasks meant to run (not one
    that is draining on its way out), NotAvailable after 3 min."""
    deadline = time.monotonic() + 180
    while True:
        running = {endpoint.container_id for endpoint in sb.stack.endpoints(service)}
        healthy = sb.stack.client.containers.list(
            filters={"label": f"com.docker.swarm.service.name={service}", "health": "healthy"}
        )
        found = sorted(str(c.id) for c in healthy if str(c.id) in running)
        if len(found) == count == len(running):
            return found
        if time.monotonic() >= deadline:
            raise NotAvailable(f"{service} did not reach {count} healthy replicas in 3 min")
        time.sleep(0.5)


def force_update(service: str) -> Callable[[], None]:
    """A callable that runs `docker service update --force` (until it converges)."""

    def update() -> None:
        done = subprocess.run(["docker", "service", "update", "--quiet", "--force", service],
                              capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise NotAvailable(f"docker service update --force {service}: {done.stderr.strip()}")

    return update


def docker_kill(sb: SwarmBench, container_id: str) -> Callable[[], None]:
    """A callable that kills the container (SIGKILL, as `docker kill`)."""

    def kill() -> None:
        try:
            sb.stack.client.containers.get(container_id).kill()
        except docker.errors.DockerException as err:
            raise NotAvailable(f"docker kill {container_id[:12]} failed: {err}") from None

    return kill


def follow_new_gateway(sb: SwarmBench, old_pid: int, timeout: float) -> None:
    """Wait until the stack answers again, and point the harness at the new gateway."""
    deadline = time.monotonic() + timeout
    while not stack_answers(sb.stack.config):
        if time.monotonic() >= deadline:
            raise NotAvailable(f"the stack did not answer within {timeout:g} s of the kill")
        time.sleep(0.5)
    gateway = sb.stack.gateway()
    if gateway.pid != old_pid:
        sb.gateway = Container("gateway", gateway.pid)
        sb.prefix = nsenter_prefix(gateway.pid)


SWARM_SCENARIOS: dict[str, Callable[[SwarmBench], None]] = {"7": gateway_kill_swarm}
