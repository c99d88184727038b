"""Scenario 9 on the swarm: a thousand functions (issue 35), what the gateway's work costs
as the fleet grows, and what a running function costs the machine at rest.

The fleet grows in stages of 10, 100 and 1,000 extra functions (bench/fleet.py's cheap
services, made from the stack's `catservice` image): up to 50 of them with one replica
(started a few at a time, with the image's own health check), the rest at 0 replicas,
and 5 of the running ones called all along by a light loop. In each stage:

- the gateway's RSS per worker process (growth per registered function);
- a full discovery sync: the gateway's own `SwarmProvider` run here, against the same
  engine, timed over `refresh()` (what a gateway does first after a restart);
- one autoscaler pass, in CPU ms (`gateway_autoscaler_pass_cpu_seconds`);
- `GET /metrics` at c=1 (time and size) and the hop at c=1 round the stack's fork
  functions (scenario 5's method: wrk in the gateway's namespace);
- the machine's CPU at rest (all of /proc/stat), whose growth with the running replicas
  is their idle cost, health checks included.

Then, beside the 1,000: 100 functions deployed at once through `POST /system/functions`
while a loop calls `catservice` through the front; every call must succeed. Reported:
the time until every deploy was accepted, until the gateway listed all 100, until all
answered 200, and the engine's service events per second meanwhile.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.fleet import BENCH_LABEL, Fleet, FunctionTemplate, fleet_names, template_from_spec
from bench.processes import NotAvailable
from bench.scenarios import check, ms, progress
from bench.swarm import REFERENCE_ROUTE, START_BATCH, SwarmBench, measure_state
from gateway.providers.swarm.discovery import SwarmProvider
from tests.support import ROOT

SC = "9 swarm"
STAGES = (10, 100, 1000)
RUNNING = 50
"""Extra functions with one replica (the first of each stage's names)."""
LOADED = 5
"""Running extra functions a light loop calls all along."""
BURST = 100
BURST_PREFIX = "bench-burst"
SYNC_ROUNDS = 3
REST_SECONDS = 10.0
"""How long the machine's CPU at rest is read in each stage."""
DEPLOY_TIMEOUT = 600.0
TARGET_HOP_GROWTH = 1.05
TARGET_METRICS_MS = 10.0
TARGET_SYNC_S = 2.0
TARGET_PASS_MS = 20.0
TARGET_RSS_PER_FUNCTION_KB = 5.0


@dataclass
class Stage:
    """What one stage measured."""

    extra: int
    known: int
    running: int
    worker_rss_kb: list[int]
    sync_s: float
    pass_ms: float | None
    hop_p50_ms: float
    metrics_p50_ms: float
    metrics_bytes: int
    rest_cores: float = 0.0
    """The machine's busy cores with no call under way (measured after the rest)."""


@dataclass
class Loop:
    """Calls to some functions, one after another per function, until stopped."""

    urls: Sequence[str]
    body: bytes = b"ping"
    pause: float = 0.05
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Loop:
        for url in self.urls:
            thread = threading.Thread(target=self._call, args=(url,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _call(self, url: str) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                try:
                    status = client.post(url, content=self.body).status_code
                except httpx.HTTPError as error:
                    self.failures.append(f"{url}: {error!r}")
                else:
                    if status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{url}: HTTP {status}")
                self._stop.wait(self.pause)


def admin() -> tuple[str, str]:
    """The stack's admin credentials (secrets/)."""
    secrets = ROOT / "secrets"
    return (
        (secrets / "basic-auth-user").read_text().strip(),
        (secrets / "basic-auth-password").read_text().strip(),
    )


def host_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat, all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / 100.0


def rest_cores(seconds: float) -> float:
    """The machine's busy cores, averaged over `seconds`."""
    before = host_cpu_seconds()
    time.sleep(seconds)
    return (host_cpu_seconds() - before) / seconds


def worker_rss_kb(gateway_pid: int) -> list[int]:
    """VmRSS of each gateway worker (the spawned children of the container's main
    process; not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{gateway_pid}/task/{gateway_pid}/children").read_text().split()
    found = []
    for pid in children:
        if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found.append(int(line.split()[1]))
    return found


def sync_seconds(network: str) -> float:
    """The median time of a full discovery sync by the gateway's own provider code."""

    async def timed() -> list[float]:
        provider = SwarmProvider(network=network, resync_interval=3600)
        await provider.start()
        try:
            times = []
            for _ in range(SYNC_ROUNDS):
                start = time.perf_counter()
                await provider.refresh()
                times.append(time.perf_counter() - start)
            if not provider.status().ready:
                raise NotAvailable(f"discovery not ready: {provider.status().detail}")
            return times
        finally:
            await provider.close()

    return statistics.median(asyncio.run(timed()))


def pass_cpu_ms(base_url: str) -> float | None:
    """The autoscaler's last pass in CPU ms, from the gateway's /metrics (None if absent)."""
    text = httpx.get(base_url + "/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("gateway_autoscaler_pass_cpu_seconds "):
            return 1000 * float(line.split()[1])
    return None


def wait_known(sb: SwarmBench, names: Sequence[str], timeout: float) -> float | None:
    """Seconds until the gateway lists every one of `names` (None: not within `timeout`)."""
    start = time.monotonic()
    wanted = set(names)
    while time.monotonic() - start < timeout:
        if wanted <= set(sb.stack.known_functions()):
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def measure_stage(sb: SwarmBench, extra: int, running: int) -> Stage:
    """Every per-stage figure (see the module docstring)."""
    config = sb.stack.config
    sb.refresh(SC)
    time.sleep(3 * 2.0)  # a few autoscaler passes over the whole fleet
    pass_ms = pass_cpu_ms(config.host_url)
    state = measure_state(
        sb,
        SC,
        f"{extra} extra functions",
        [f"/function/{config.service_name(f)}" for f in REFERENCE_ROUTE],
    )
    stage = Stage(
        extra=extra,
        known=state.known,
        running=running,
        worker_rss_kb=worker_rss_kb(sb.gateway.pid),
        sync_s=sync_seconds(config.network),
        pass_ms=pass_ms,
        hop_p50_ms=ms(state.route.p50_ms),
        metrics_p50_ms=ms(state.metrics.p50_ms),
        metrics_bytes=state.metrics_bytes,
    )
    progress(
        f"  [{SC}] {extra} extra ({running} running): RSS {stage.worker_rss_kb} KB, sync "
        f"{stage.sync_s:.3f} s, pass {stage.pass_ms} ms, hop {stage.hop_p50_ms:.2f} ms, "
        f"/metrics {stage.metrics_p50_ms:.2f} ms {stage.metrics_bytes:,} B"
    )
    return stage


@dataclass
class Burst:
    """The 100 deploys at once beside a loaded function."""

    accepted_s: float
    listed_s: float | None
    answered_s: float | None
    statuses: dict[int, int]
    events: int
    loop_ok: int
    loop_failures: list[str]


def deploy_burst(sb: SwarmBench, template: FunctionTemplate) -> Burst:
    """`BURST` deploys at once through the gateway, a loop on catservice meanwhile."""
    config = sb.stack.config
    names = fleet_names(BURST, BURST_PREFIX)
    events = sb.stack.client.events(decode=True, filters={"type": "service"})
    counted = [0]

    def count() -> None:
        for _ in events:
            counted[0] += 1

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    catservice = f"{config.host_url}/function/{config.service_name('catservice')}"
    answered: dict[str, float] = {}
    statuses: dict[int, int] = {}
    start = time.monotonic()

    def deploy(name: str) -> None:
        with httpx.Client(timeout=120, auth=admin()) as client:
            status = client.post(
                config.host_url + "/system/functions",
                json={
                    "service": name,
                    "image": template.image,
                    "envVars": dict(e.split("=", 1) for e in template.env if "=" in e),
                    "labels": {BENCH_LABEL: "1"},
                },
            ).status_code
            statuses[status] = statuses.get(status, 0) + 1

    with Loop([catservice] * 4, pause=0.0) as loop:
        with ThreadPoolExecutor(BURST) as pool:
            list(pool.map(deploy, names))
        accepted_s = time.monotonic() - start
        listed_s = wait_known(sb, names, DEPLOY_TIMEOUT)
        if listed_s is not None:
            listed_s += accepted_s
        with httpx.Client(timeout=60) as client:
            for name in names:
                while time.monotonic() - start < DEPLOY_TIMEOUT:
                    try:
                        url = f"{config.host_url}/function/{name}"
                        if client.post(url, content=b"hi").status_code == 200:
                            answered[name] = time.monotonic() - start
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.2)
    events.close()
    return Burst(
        accepted_s,
        listed_s,
        max(answered.values()) if len(answered) == BURST else None,
        statuses,
        counted[0],
        loop.ok,
        loop.failures,
    )


def fleet_growth_swarm(sb: SwarmBench) -> None:
    """Scenario 9 on the swarm (see the module docstring)."""
    stack = sb.stack
    config = stack.config
    template = template_from_spec(stack.service_spec(config.service_name("catservice")))
    fleet = Fleet(stack.client, config.network, template)
    names = fleet_names(max(STAGES))
    stages: list[Stage] = []
    with fleet.deployed():
        leftovers = fleet.remove_all()
        if leftovers:
            progress(f"  [{SC}] removed {leftovers} services left by an earlier run")
        baseline = rest_cores(REST_SECONDS)
        progress(f"  [{SC}] stack only: {baseline:.2f} cores busy at rest")
        made = 0
        for extra in STAGES:
            running = min(extra, RUNNING)
            started = max(made, 0)
            fresh_running = names[min(started, RUNNING) : running]
            progress(f"  [{SC}] growing to {extra} extra functions ({running} running)")
            up = fleet.create_gradually(fresh_running, START_BATCH, timeout=600, health=True)
            fleet.create(names[max(started, running) : extra], replicas=0)
            made = extra
            if wait_known(sb, names[:extra], 300) is None:
                raise NotAvailable(f"the gateway did not list the {extra} extra functions")
            if len(up) < len(fresh_running):
                sb.bench.report.problems.append(
                    f"{SC}: {len(fresh_running) - len(up)} functions did not start"
                )
            loaded = [f"{config.host_url}/function/{n}" for n in names[:LOADED]]
            with Loop(loaded) as loop:
                stage = measure_stage(sb, extra, running)
            stage.rest_cores = rest_cores(REST_SECONDS)  # with no call under way
            progress(f"  [{SC}] {extra} extra: {stage.rest_cores:.2f} cores busy at rest")
            stages.append(stage)
            if loop.failures:
                sb.bench.report.problems.append(
                    f"{SC}: {len(loop.failures)} calls to the loaded functions failed at "
                    f"{extra} extra, e.g. {loop.failures[:3]}"
                )
        progress(f"  [{SC}] {BURST} deploys at once beside a loaded catservice")
        burst = deploy_burst(sb, template)
        progress(f"  [{SC}] burst: {burst}")
        progress(f"  [{SC}] removing the extra functions")
    report(sb, baseline, stages, burst)


def report(sb: SwarmBench, baseline: float, stages: list[Stage], burst: Burst) -> None:
    """The checks: one curve per figure, the targets checked at the largest stage."""
    b = sb.bench
    first, last = stages[0], stages[-1]
    curve = " / ".join

    def at(values: Sequence[str]) -> str:
        return f"{curve(values)} at {curve(str(s.extra) for s in stages)} extra"

    rss_growth = (
        (sum(last.worker_rss_kb) - sum(first.worker_rss_kb))
        / max(1, len(last.worker_rss_kb))
        / (last.known - first.known)
    )
    check(b, SC, "gateway RSS per worker (KB)",
          at([str(s.worker_rss_kb) for s in stages]),
          f"{rss_growth:.2f} KB per function per worker", f"≤ {TARGET_RSS_PER_FUNCTION_KB} KB",
          rss_growth <= TARGET_RSS_PER_FUNCTION_KB)  # fmt: skip
    check(b, SC, "full discovery sync (the gateway's provider, median of 3)",
          at([f"{s.sync_s * 1000:.0f} ms" for s in stages]), f"{last.known} functions known",
          f"≤ {TARGET_SYNC_S} s", last.sync_s <= TARGET_SYNC_S)  # fmt: skip
    passes = [s.pass_ms for s in stages]
    check(b, SC, "one autoscaler pass (CPU ms, upper bound)",
          at(["—" if p is None else f"{p:.1f}" for p in passes]), "—",
          f"≤ {TARGET_PASS_MS:g} ms", None if last.pass_ms is None
          else last.pass_ms <= TARGET_PASS_MS)  # fmt: skip
    check(b, SC, "GET /metrics c=1 p50",
          at([f"{s.metrics_p50_ms:.2f} ms ({s.metrics_bytes:,} B)" for s in stages]), "—",
          f"≤ {TARGET_METRICS_MS:g} ms", last.metrics_p50_ms <= TARGET_METRICS_MS)  # fmt: skip
    # The first stage runs fewer replicas (10, not 50), whose health checks load the
    # machine less: the stage with as many running replicas shows the gateway's share.
    same = next(s for s in stages if s.running == last.running)
    growth, same_growth = last.hop_p50_ms / first.hop_p50_ms, last.hop_p50_ms / same.hop_p50_ms
    check(
        b,
        SC,
        "hop c=1 p50 (round the stack's fork functions)",
        at([f"{s.hop_p50_ms:.2f} ms" for s in stages]),
        f"{growth:.2f}x from {first.extra}; {same_growth:.2f}x from {same.extra} "
        f"(as many running replicas, {same.running})",
        f"≤ {TARGET_HOP_GROWTH:.2f}x",
        growth <= TARGET_HOP_GROWTH,
    )
    per_replica = (last.rest_cores - baseline) / max(1, last.running)
    check(b, SC, "machine CPU at rest (cores busy)",
          at([f"{s.rest_cores:.2f}" for s in stages]),
          f"{baseline:.2f} with the stack only: {per_replica * 100:.1f}% of a core per "
          "running replica", "—", None)  # fmt: skip
    failures = len(burst.loop_failures)
    check(b, SC, f"{BURST} deploys at once beside a loaded catservice: calls failed",
          f"{failures} of {burst.loop_ok + failures}",
          f"deploys {burst.statuses}; accepted after {burst.accepted_s:.1f} s, listed after "
          f"{_s(burst.listed_s)}, all answer after {_s(burst.answered_s)}; "
          f"{burst.events} service events "
          f"({burst.events / burst.listed_s if burst.listed_s else 0:.0f}/s until listed)",
          "0", failures == 0)  # fmt: skip
    if failures:
        b.report.problems.append(f"{SC}: burst failures, e.g. {burst.loop_failures[:3]}")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


SWARM_SCENARIOS: dict[str, Callable[[SwarmBench], None]] = {"9": fleet_growth_swarm}
