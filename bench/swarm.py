"""The swarm variants of scenarios 3, 4 and 5: the deployed stack on the real swarm.

The client (wrk, or `python -m bench.large`) runs on this machine inside the gateway
container's network namespace (see bench/swarm_stack.py). "Direct" is a function's task
at its overlay address, "via gateway" is `127.0.0.1:8080/function/<service>` from the
same namespace: the only difference between the two is the gateway hop. CPU is read
from /proc for each container's process tree, peak RSS from its main process.

- 3 swarm: `func_catservice` (fork) and `func_httpecho` (http mode), direct vs via the
  gateway at c=1 and c=64, same targets as scenario 3. The autoscaler would add
  replicas at c=64, so both are pinned to one replica meanwhile (a label, put back).
- 4 swarm: one 100 MiB body through gateway → catservice vs catservice direct.
- 5 swarm: routing and `GET /metrics` at c=1 with the stack's functions only, with 200
  extra services (bench/fleet.py: 20 with one replica, 180 at 0 replicas; the route
  test goes round the 20), and again after removing them; plus how long the gateway
  takes to route a function after `docker service create`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import large
from bench.fleet import NAME_PREFIX, Fleet, fleet_names, template_from_spec
from bench.processes import NotAvailable, http_status
from bench.report import Run
from bench.scenarios import (
    BODY,
    LARGE_BODY,
    Bench,
    Transfer,
    check,
    hop_checks,
    http_get,
    key,
    measure,
    ms,
    pct,
    progress,
    record_transfers,
    rss_checks,
    transfer_rounds,
    wrk_case,
)
from bench.swarm_stack import Container, Stack, nsenter_prefix
from tests.support import ROOT

FLEET_SIZE = 200
FLEET_REPLICATED = 20
"""How many of the extra functions get a replica; the rest are deployed at 0 replicas
(the gateway discovers them all, and answers 503 for those). Starting all 200 took
65-80 s here and removing them 1-2 min more, and started quickly they starved the
machine until Swarm replaced the gateway (its health check timed out)."""
START_BATCH = 5
STOP_BATCH = 10
REFERENCE_ROUTE = ("catservice", "wordcount", "base64")
"""The stack's fork functions the stack-only route test goes round: small coreutils,
like the extra functions' `cat`."""
DISCOVERY_PROBE = "bench-discovery"
STALL_MS = 20.0
"""A direct p50 at c=1 above this is the function stalling, not working."""


@dataclass
class SwarmBench:
    """What every swarm scenario needs: the local harness's settings and report, the
    stack, and how to run a client in the gateway container's network namespace."""

    bench: Bench
    stack: Stack
    gateway: Container
    prefix: list[str]
    """nsenter into the gateway container's network namespace."""
    gateway_port: int
    """The port the gateway listens on in its container."""

    @classmethod
    def start(cls, bench: Bench, stack: Stack) -> SwarmBench:
        """Find the gateway's task and build the nsenter prefix into its namespace."""
        gateway = stack.gateway()
        return cls(
            bench,
            stack,
            Container("gateway", gateway.pid),
            nsenter_prefix(gateway.pid),
            stack.gateway_target_port(),
        )

    @property
    def gateway_url(self) -> str:
        """The gateway as seen from inside its own network namespace."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def via_gateway(self, service: str) -> str:
        """A function's URL through the gateway, from inside the gateway's namespace."""
        return f"{self.gateway_url}/function/{service}"

    def refresh(self, sc: str) -> None:
        """Follow the gateway if Swarm replaced its task since the last look (e.g. after
        its health check timed out on a starved machine); the report says so."""
        gateway = self.stack.gateway()
        if gateway.pid != self.gateway.pid:
            self.bench.report.problems.append(
                f"{sc}: Swarm replaced the gateway's task during the run (now container "
                f"{gateway.container_id[:12]}); later figures are from the new one"
            )
            self.gateway = Container("gateway", gateway.pid)
            self.prefix = nsenter_prefix(gateway.pid)


# ---------------------------------------------------------------------------------------
# 3 swarm. Gateway hop


def gateway_hop_swarm(sb: SwarmBench) -> None:
    """Scenario 3 on the swarm: catservice (fork) and httpecho (http mode), each hit
    directly on its task and through the gateway, c=1 and c=64, in interleaved rounds."""
    sc = "3 swarm"
    b, stack = sb.bench, sb.stack
    config = stack.config
    sb.refresh(sc)
    targets = [
        ("fork function (catservice)", "catservice"),
        ("http-mode function (httpecho)", "httpecho"),
    ]
    services = [config.service_name(function) for _, function in targets]
    front = front_container(stack)
    with stack.replicas_pinned(services):
        cases = []
        for (kind, function), service in zip(targets, services, strict=True):
            task, ip, port = stack.function_target(function)
            container = Container(function, task.pid)
            direct = f"http://{ip}:{port}/"
            via = sb.via_gateway(service)
            touch_status(config.host_url + f"/function/{service}")
            for c in (1, 64):
                cases.append(
                    wrk_case(b, f"{kind}, direct", direct, c, [container], prefix=sb.prefix)
                )
                cases.append(
                    wrk_case(
                        b, f"{kind}, via gateway", via, c, [sb.gateway, container], prefix=sb.prefix
                    )
                )
                if front is not None and function == "httpecho":
                    # What users call: the published port (the front), from the host.
                    cases.append(
                        wrk_case(
                            b,
                            f"{kind}, via front and gateway",
                            f"{config.host_url}/function/{service}",
                            c,
                            [front, sb.gateway, container],
                        )
                    )
        runs = measure(b, sc, cases)
        for service in services:
            replicas = len(stack.endpoints(service))
            if replicas != 1:
                b.report.problems.append(
                    f"{sc}: {service} had {replicas} running tasks at the end (expected 1)"
                )
    hop_checks(b, sc, [kind for kind, _ in targets], runs)
    for kind, _ in targets:
        alone = runs[key(f"{kind}, direct", 1)]
        if ms(alone.p50_ms) >= STALL_MS:
            b.report.problems.append(
                f"{sc}: {kind} takes {ms(alone.p50_ms):.0f} ms at c=1 even direct: the "
                "function itself stalls (e.g. Nagle's algorithm + delayed ACK on a response "
                "written in two sends), so its hop figures mostly measure that stall"
            )


def front_container(stack: Stack) -> Container | None:
    """The front's container on this node (None: the stack runs none)."""
    try:
        return Container("front", stack.endpoint(stack.config.service_name("front")).pid)
    except NotAvailable:
        return None


def touch_status(url: str, count: int = 3) -> None:
    """A few POSTs through the gateway from the host; a failure is NotAvailable."""
    for _ in range(count):
        status = http_status(url, timeout=10, body=BODY)
        if status != 200:
            raise NotAvailable(f"{url} answered {status} (expected 200)")


# ---------------------------------------------------------------------------------------
# 4 swarm. Large payloads


def post_large_in_namespace(
    prefix: Sequence[str], host: str, port: int, path: str, size: int
) -> large.TransferResult:
    """`python -m bench.large` run through `prefix` (e.g. in the gateway's namespace)."""
    argv = [
        *prefix,
        sys.executable,
        "-m",
        "bench.large",
        "--host",
        host,
        "--port",
        str(port),
        "--path",
        path,
        "--size",
        str(size),
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"python -m bench.large failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return large.result_from_json(lines[-1])


def large_payloads_swarm(sb: SwarmBench) -> None:
    """Scenario 4 on the swarm: 100 MiB through gateway → catservice vs catservice direct;
    MB/s, and the peak RSS of both containers' main processes."""
    sc = "4 swarm"
    b, stack = sb.bench, sb.stack
    service = stack.config.service_name("catservice")
    task, ip, port = stack.function_target("catservice")
    function = Container("catservice", task.pid)
    sb.refresh(sc)
    gateway_port = sb.gateway_port
    size = LARGE_BODY
    # VmHWM counts since the process started (earlier tests may have raised it): reset
    # it to the current RSS so the peak is this run's.
    reset = all([sb.gateway.reset_peak_rss(), function.reset_peak_rss()])
    base_gw, base_fn = sb.gateway.peak_rss(), function.peak_rss()
    via_label = "gateway → catservice"
    subjects: list[Transfer] = [
        (
            "catservice, direct",
            lambda: post_large_in_namespace(sb.prefix, ip, port, "/", size),
            [function],
        ),
        (
            via_label,
            lambda: post_large_in_namespace(
                sb.prefix, "127.0.0.1", gateway_port, f"/function/{service}", size
            ),
            [sb.gateway, function],
        ),
    ]
    results = transfer_rounds(b, sc, subjects)
    peak_gw, peak_fn = sb.gateway.peak_rss(), function.peak_rss()
    notes = {
        via_label: f"peak RSS gateway {peak_gw / 1e6:.0f} MB, catservice {peak_fn / 1e6:.0f} MB"
    }
    mbps = record_transfers(b, sc, results, notes)
    via, direct = mbps[via_label], mbps["catservice, direct"]
    check(
        b,
        sc,
        "100 MiB through gateway + catservice: throughput",
        f"{via:,.0f} MB/s = {pct(via, direct):.0f}% of direct",
        f"catservice direct {direct:,.0f} MB/s",
        "—",
        None,
    )
    note = "" if reset else " (VmHWM not reset: peak since the container started)"
    rss_checks(b, sc, [("gateway", peak_gw, base_gw), ("catservice", peak_fn, base_fn)], note)


# ---------------------------------------------------------------------------------------
# 5 swarm. Scale of discovery


@dataclass
class StateRuns:
    """The route and /metrics runs in one state of the stack, and what it knew."""

    known: int
    route: Run
    metrics: Run
    metrics_bytes: int
    stale: int
    """Functions with series in /metrics that the gateway no longer knows."""


def discovery_scale_swarm(sb: SwarmBench) -> None:
    """Scenario 5 on the swarm: routing and /metrics with the stack only, with 200 extra
    functions, and with the stack only again; and discovery time, with and without."""
    sc = "5 swarm"
    b, stack = sb.bench, sb.stack
    config = stack.config
    template = template_from_spec(stack.service_spec(config.service_name("catservice")))
    fleet = Fleet(stack.client, config.network, template)
    reference_paths = [f"/function/{config.service_name(f)}" for f in REFERENCE_ROUTE]
    names = fleet_names(FLEET_SIZE)
    replicated, idle = names[:FLEET_REPLICATED], names[FLEET_REPLICATED:]
    with fleet.deployed():
        leftovers = fleet.remove_all()
        if leftovers:
            progress(f"  [{sc}] removed {leftovers} services left by an earlier run")
        sb.refresh(sc)
        touch_known(sb)
        probe_before = probe_discovery(sb, fleet)
        before = measure_state(sb, sc, "stack only", reference_paths)

        progress(
            f"  [{sc}] creating {len(idle)} services at 0 replicas and {len(replicated)} with "
            f"one replica, {START_BATCH} at a time ({template.image})"
        )
        start = time.monotonic()
        fleet.create(idle, replicas=0)
        running = fleet.create_gradually(replicated, START_BATCH, timeout=180)
        running_s = time.monotonic() - start
        routed = wait_routed(sb, sorted(running), timeout=60)
        routed_s = time.monotonic() - start
        progress(
            f"  [{sc}] {len(running)} of {len(replicated)} running after {running_s:.0f} s, "
            f"{len(routed)} answer 200 through the gateway after {routed_s:.0f} s"
        )
        if not routed:
            raise NotAvailable(f"none of the {len(replicated)} extra functions answered 200")
        sb.refresh(sc)
        touch_known(sb)  # every function has served once: the idle ones answer 503
        probe_many = probe_discovery(sb, fleet)
        label = f"with {FLEET_SIZE} extra, {len(routed)} of them with a replica"
        many = measure_state(sb, sc, label, [f"/function/{n}" for n in routed])
        many.route.note = (
            f"{len(idle)} of the {FLEET_SIZE} extra functions are at 0 replicas (known, "
            "503 when called): the route goes round the ones with a replica"
        )
        woken = fleet.running(idle)

        progress(f"  [{sc}] removing the {FLEET_SIZE} extra services")
        start = time.monotonic()
        fleet.remove(idle)
        fleet.remove_gradually(replicated, STOP_BATCH)
        removed_s = time.monotonic() - start
        forgotten = wait_forgotten(sb, [replicated[0], idle[-1]], timeout=60)
        forgotten_s = time.monotonic() - start
        progress(
            f"  [{sc}] containers gone after {removed_s:.0f} s, "
            f"gateway answers 404 after {forgotten_s:.0f} s"
        )
        sb.refresh(sc)
        touch_known(sb)
        after = measure_state(sb, sc, "stack only again", reference_paths)

    if len(routed) < len(replicated):
        b.report.problems.append(
            f"{sc}: only {len(routed)} of {len(replicated)} extra functions with a replica "
            "answered 200; the route test went round those"
        )
    if woken:
        b.report.problems.append(
            f"{sc}: {len(woken)} functions deployed at 0 replicas were started meanwhile"
        )
    if not forgotten:
        b.report.problems.append(f"{sc}: the gateway still routed removed functions after 60 s")
    check(
        b,
        sc,
        f"{FLEET_SIZE} extra services ({len(replicated)} with one replica, started "
        f"{START_BATCH} at a time; {len(idle)} at 0): create → all answer; "
        "remove → containers gone → gateway 404",
        f"{routed_s:.0f} s ({len(routed)} answer); {removed_s:.0f} s → {forgotten_s:.0f} s",
        "—",
        "—",
        None,
    )
    for what, pick in (("route", _route), ("GET /metrics", _metrics)):
        first, again, got = pick(before), pick(after), ms(pick(many).p50_ms)
        ref_p50 = ms(first.p50_ms)
        sizes = ""
        if what == "GET /metrics":
            sizes = f"; {many.metrics_bytes:,} bytes vs {before.metrics_bytes:,}"
        check(
            b,
            sc,
            f"{what} c=1: p50 with {many.known} functions vs {before.known} (stack only)",
            f"{got:.2f} ms ({got - ref_p50:+.2f} ms, {got / ref_p50:.2f}x){sizes}",
            f"{ref_p50:.2f} ms before{_stale(before, what)}; {ms(again.p50_ms):.2f} ms after "
            f"removing them{_stale(after, what, sizes=True)}",
            "—",
            None,
        )
    for state, name in ((before, "before"), (after, "after removing the extra functions")):
        if state.stale:
            b.report.problems.append(
                f"{sc}: {name}, /metrics still has series for {state.stale} functions the "
                "gateway no longer knows (removed functions keep their series)"
            )
    check(
        b,
        sc,
        "discovery: `docker service create` → routed (first non-404) / first 200",
        f"{_seconds(probe_many[0])} / {_seconds(probe_many[1])} with {many.known} functions",
        f"{_seconds(probe_before[0])} / {_seconds(probe_before[1])} with {before.known}",
        "—",
        None,
    )


def _stale(state: StateRuns, what: str, *, sizes: bool = False) -> str:
    """For the /metrics check: the exposition's size and stale series, in brackets."""
    if what != "GET /metrics":
        return ""
    parts = [f"{state.metrics_bytes:,} bytes"] if sizes else []
    if state.stale:
        parts.append(f"series of {state.stale} removed functions")
    return f" ({', '.join(parts)})" if parts else ""


def _route(state: StateRuns) -> Run:
    return state.route


def _metrics(state: StateRuns) -> Run:
    return state.metrics


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def measure_state(sb: SwarmBench, sc: str, state: str, paths: list[str]) -> StateRuns:
    """Route (c=1, round-robin over `paths`) and `GET /metrics` (c=1) in this state."""
    b = sb.bench
    functions = sb.stack.known_functions()
    known = len(functions)
    exposition = http_get(sb.stack.config.host_url + "/metrics").decode(errors="replace")
    stale = metric_function_names(exposition) - set(functions)
    metrics_bytes = len(exposition.encode())
    route_label = f"route, {known} functions ({state}), round-robin over {len(paths)}"
    metrics_label = f"GET /metrics, {known} functions ({state})"
    cases = [
        wrk_case(
            b, route_label, sb.gateway_url + "/", 1, [sb.gateway], paths=paths, prefix=sb.prefix
        ),
        wrk_case(
            b,
            metrics_label,
            sb.gateway_url + "/metrics",
            1,
            [sb.gateway],
            body=None,
            method="GET",
            prefix=sb.prefix,
        ),
    ]
    runs = measure(b, sc, cases)
    metrics = runs[key(metrics_label, 1)]
    metrics.note = f"{metrics_bytes:,} bytes" + (
        f"; with series of {len(stale)} functions the gateway no longer knows" if stale else ""
    )
    return StateRuns(known, runs[key(route_label, 1)], metrics, metrics_bytes, len(stale))


_FUNCTION_LABEL = re.compile(r'function_name="((?:[^"\\]|\\.)*)"')


def metric_function_names(exposition: str) -> set[str]:
    """Every `function_name` label value in a Prometheus text exposition."""
    return set(_FUNCTION_LABEL.findall(exposition))


def touch_known(sb: SwarmBench) -> None:
    """Call each of the stack's and this benchmark's functions once (any answer), so each
    has series. Other functions on the network are left alone: a call could wake one
    that was scaled to zero, or disturb whoever uses it."""
    host = sb.stack.config.host_url
    ours = (f"{sb.stack.config.stack}_", NAME_PREFIX, DISCOVERY_PROBE)
    for name in sb.stack.known_functions():
        if name.startswith(ours):
            http_status(f"{host}/function/{name}", timeout=10, body=BODY)


def wait_routed(sb: SwarmBench, names: Sequence[str], timeout: float) -> list[str]:
    """Call each function until it answers 200 (all within `timeout`); those that did."""
    host = sb.stack.config.host_url
    deadline = time.monotonic() + timeout
    routed = []
    for name in names:
        while True:
            if http_status(f"{host}/function/{name}", timeout=10, body=BODY) == 200:
                routed.append(name)
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    return routed


def wait_forgotten(sb: SwarmBench, names: Sequence[str], timeout: float) -> bool:
    """Wait until the gateway answers 404 for each of `names`."""
    host = sb.stack.config.host_url
    deadline = time.monotonic() + timeout
    for name in names:
        while http_status(f"{host}/function/{name}", timeout=5.0, body=BODY) != 404:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
    return True


def probe_discovery(
    sb: SwarmBench, fleet: Fleet, timeout: float = 60.0
) -> tuple[float | None, float | None]:
    """Seconds from `service create` of one new function until the gateway routes it
    (its first answer other than 404) and until it first answers 200."""
    url = f"{sb.stack.config.host_url}/function/{DISCOVERY_PROBE}"
    routed: float | None = None
    ready: float | None = None
    start = time.monotonic()
    fleet.create([DISCOVERY_PROBE])
    try:
        while (elapsed := time.monotonic() - start) < timeout:
            status = http_status(url, timeout=5, body=BODY)
            elapsed = time.monotonic() - start
            if status is not None and status != 404 and routed is None:
                routed = elapsed
            if status == 200:
                ready = elapsed
                break
            time.sleep(0.02)
    finally:
        fleet.remove([DISCOVERY_PROBE])
    progress(
        f"  [5 swarm] discovery: routed after {_seconds(routed)}, first 200 after {_seconds(ready)}"
    )
    return routed, ready


SWARM_SCENARIOS: dict[str, Callable[[SwarmBench], None]] = {
    "3": gateway_hop_swarm,
    "4": large_payloads_swarm,
    "5": discovery_scale_swarm,
}
