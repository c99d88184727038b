"""Scenario 6: the gateway hop against a Go reverse proxy and HAProxy, in the same rounds.

Six paths to the same upstream (bench/echo_server.py), at c=1 and c=64: the upstream
direct; Go's `httputil.ReverseProxy` (bench/goproxy, see bench/reference_proxy.py);
HAProxy (2 threads, keep-alive to the upstream); our gateway with `GATEWAY_WORKERS=1`;
our gateway with one worker per CPU; and, as a measured prototype (issue 36), our
gateway with one worker and its header path in C (bench/native, bench/native_gateway.py).
The checks are the issue's targets as paired ratios (ours / Go proxy, ours / HAProxy:
≥ 0.5x at c=64, p50 at c=1 ≤ 120 µs) and added p50 over direct, each with the machine's
1-minute load average when it was measured; the C prototype is compared with our one
worker, paired by round (rate and CPU per call at c=64, p50 at c=1), for information.
Without Go, HAProxy or a C compiler, their rows are "not run" and the problems say why;
the rest runs.
"""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from pathlib import Path

from bench.native.build import load as load_native
from bench.processes import NotAvailable, Server, listening_children, start_echo, start_gateway
from bench.reference_proxy import build_go_proxy, find_haproxy, start_go_proxy, start_haproxy
from bench.report import Check, Run, load_average
from bench.scenarios import (
    Bench,
    Case,
    added_ms,
    check,
    cpu_count,
    key,
    measure,
    ms,
    rate_ratio,
    touch,
    wrk_case,
)

FUNCTION = "echo"
DIRECT = "upstream echo, direct"
GO_PROXY = "Go httputil.ReverseProxy → echo"
HAPROXY = "HAProxy (2 threads) → echo"
NATIVE = "our gateway, header path in C (prototype), GATEWAY_WORKERS=1 → echo"
NATIVE_MODULE = "bench.native_gateway"
NATIVE_SERVER = "gateway C 1w"
NATIVE_CHECKS = (
    "c=64: rate vs Python (1 worker)",
    "c=64: CPU per call vs Python (1 worker)",
    "c=1: p50 vs Python (1 worker)",
)
ADDED_P50_TARGET_MS = 0.25
HAPROXY_RATE_TARGET = 50
"""Ours at c=64 as % of HAProxy's rate (issue 36: half of HAProxy)."""
P50_TARGET_MS = 0.12
"""Ours at c=1: p50 through the gateway (issue 36)."""


def gateway_label(workers: int) -> str:
    """The label of our gateway with `workers` worker processes."""
    return f"our gateway, GATEWAY_WORKERS={workers} → echo"


def gateway_server(workers: int) -> str:
    """The server name (its CPU reading's label) of our gateway with `workers` workers."""
    return f"gateway {workers}w"


def worker_note(gateway: Server, asked: int) -> str:
    """What the run's note says about the worker processes the gateway really ran."""
    seen = len(listening_children(gateway.pid, gateway.port))
    if asked > 1 and seen == 0:
        return "one process: this gateway ignores GATEWAY_WORKERS"
    if seen == 0:
        return "one process"
    return f"{seen} worker process" + ("es" if seen > 1 else "")


def go_proxy_binary() -> tuple[Path | None, str]:
    """The built Go proxy, or None and why not."""
    try:
        return build_go_proxy(), ""
    except NotAvailable as err:
        return None, str(err)


def haproxy_binary() -> tuple[Path | None, str]:
    """HAProxy's binary (installed when missing and possible), or None and why not."""
    try:
        return find_haproxy(), ""
    except NotAvailable as err:
        return None, str(err)


def native_header_path() -> tuple[bool, str]:
    """Whether the C header path builds and loads here (built now when needed), and why
    not: it refuses to load when the Python header path has changed under it."""
    try:
        load_native()
        return True, ""
    except NotAvailable as err:
        return False, str(err)
    except ImportError as err:
        return False, f"it does not load ({err}): bench/native/headers.c is behind the Python"


def proxy_hop(b: Bench) -> None:
    """Scenario 6: direct vs Go proxy vs HAProxy vs our gateway (1 and N workers),
    c=1 and c=64."""
    sc = "6"
    many = max(2, cpu_count())
    worker_counts = (1, many)
    binary, why_no_go = go_proxy_binary()
    haproxy, why_no_haproxy = haproxy_binary()
    native, why_no_native = native_header_path()
    gateways: dict[str, tuple[Server, int]] = {}
    with ExitStack() as stack:
        echo = stack.enter_context(start_echo(b.tmp))
        upstream = f"http://127.0.0.1:{echo.port}"
        path = f"/function/{FUNCTION}"
        subjects: list[tuple[str, str, list[Server]]] = [(DIRECT, upstream + "/", [echo])]
        if binary is not None:
            proxy = stack.enter_context(start_go_proxy(b.tmp, binary, upstream, strip=path))
            subjects.append((GO_PROXY, proxy.base_url + path, [proxy, echo]))
        if haproxy is not None:
            ha = stack.enter_context(start_haproxy(b.tmp, haproxy, upstream, strip=path))
            subjects.append((HAPROXY, ha.base_url + path, [ha, echo]))
        for workers in worker_counts:
            gateway = stack.enter_context(
                start_gateway(
                    b.tmp,
                    {FUNCTION: f"127.0.0.1:{echo.port}"},
                    name=gateway_server(workers),
                    workers=workers,
                )
            )
            gateways[gateway_label(workers)] = (gateway, workers)
            subjects.append((gateway_label(workers), gateway.base_url + path, [gateway, echo]))
        if native:
            in_c = stack.enter_context(
                start_gateway(
                    b.tmp,
                    {FUNCTION: f"127.0.0.1:{echo.port}"},
                    name=NATIVE_SERVER,
                    workers=1,
                    module=NATIVE_MODULE,
                )
            )
            gateways[NATIVE] = (in_c, 1)
            subjects.append((NATIVE, in_c.base_url + path, [in_c, echo]))
        for _, url, _ in subjects:
            touch(url)
        cases: list[Case] = []
        for c in (1, 64):
            for label, url, servers in subjects:
                cases.append(wrk_case(b, label, url, c, servers))
        runs = measure(b, sc, cases)
        load = load_average()
        for label, (gateway, workers) in gateways.items():
            note = worker_note(gateway, workers)  # after the runs: every worker is up by now
            for c in (1, 64):
                runs[key(label, c)].note = note
    if binary is None:
        b.report.problems.append(f"{sc}: the Go reverse proxy was not run: {why_no_go}")
    if haproxy is None:
        b.report.problems.append(f"{sc}: HAProxy was not run: {why_no_haproxy}")
    if not native:
        b.report.problems.append(f"{sc}: the C header path was not run: {why_no_native}")
    ours = [gateway_label(w) for w in worker_counts]
    hop_reference_checks(b, sc, runs, ours, binary is not None)
    haproxy_checks(b, sc, runs, ours, load)
    native_checks(b, sc, runs, load)


def haproxy_checks(b: Bench, sc: str, runs: dict[str, Run], ours: list[str], load: str) -> None:
    """Ours against HAProxy (issue 36): rate at c=64 (≥ 0.5x, paired by round) and p50
    at c=1 (≤ 120 µs), with the load average at the end of the rounds beside them."""
    ha1, ha64 = runs.get(key(HAPROXY, 1)), runs.get(key(HAPROXY, 64))
    for label in ours:
        ours1, ours64 = runs[key(label, 1)], runs[key(label, 64)]
        p50 = ms(ours1.p50_ms)
        check(
            b,
            sc,
            f"{label}, c=1: p50",
            f"{p50 * 1000:.0f} µs",
            (f"HAProxy {ms(ha1.p50_ms) * 1000:.0f} µs; " if ha1 is not None else "")
            + f"load {load}",
            f"≤ {P50_TARGET_MS * 1000:.0f} µs",
            p50 <= P50_TARGET_MS,
        )
        if ha64 is None:
            b.report.checks.append(
                Check(sc, f"{label}, c=64: rate vs HAProxy", "—", "—", "≥ 0.50x", "not run")
            )
            continue
        ratio = rate_ratio(ours64, ha64)
        check(
            b,
            sc,
            f"{label}, c=64: rate vs HAProxy",
            f"{ours64.rps:,.0f} req/s = {ratio / 100:.2f}x",
            f"HAProxy {ha64.rps:,.0f} req/s; load {load}",
            f"≥ {HAPROXY_RATE_TARGET / 100:.2f}x",
            ratio >= HAPROXY_RATE_TARGET,
        )


def hop_reference_checks(
    b: Bench, sc: str, runs: dict[str, Run], ours: list[str], with_go: bool
) -> None:
    """Added p50 at c=1 over direct (ours and Go's), and ours / Go at c=64 and c=1."""
    d1 = runs[key(DIRECT, 1)]
    go1 = runs.get(key(GO_PROXY, 1))
    go64 = runs.get(key(GO_PROXY, 64))
    if go1 is not None:
        check(
            b,
            sc,
            "Go reverse proxy c=1: added p50 over direct",
            f"{added_ms(go1, d1):+.2f} ms",
            f"direct p50 {ms(d1.p50_ms):.2f} ms",
            "—",
            None,
        )
    for label in ours:
        ours1, ours64 = runs[key(label, 1)], runs[key(label, 64)]
        added = added_ms(ours1, d1)
        check(
            b,
            sc,
            f"{label}, c=1: added p50 over direct",
            f"{added:+.2f} ms"
            + (f" (Go proxy {added_ms(go1, d1):+.2f} ms)" if go1 is not None else ""),
            f"direct p50 {ms(d1.p50_ms):.2f} ms",
            f"≤ +{ADDED_P50_TARGET_MS:.2f} ms",
            added <= ADDED_P50_TARGET_MS,
        )
        if not with_go or go64 is None or go1 is None:
            b.report.checks.append(_not_run(sc, f"{label}, c=64: rate vs the Go reverse proxy"))
            continue
        ratio = rate_ratio(ours64, go64)
        check(
            b,
            sc,
            f"{label}, c=64: rate vs the Go reverse proxy",
            f"{ours64.rps:,.0f} req/s = {ratio / 100:.2f}x",
            f"Go proxy {go64.rps:,.0f} req/s",
            "≥ 1.00x",
            ratio >= 100,
        )
        check(
            b,
            sc,
            f"{label}, c=1: rate vs the Go reverse proxy",
            f"{ours1.rps:,.0f} req/s = {rate_ratio(ours1, go1) / 100:.2f}x",
            f"Go proxy {go1.rps:,.0f} req/s",
            "—",
            None,
        )


def _not_run(sc: str, what: str) -> Check:
    return Check(sc, what, "—", "—", "≥ 1.00x", "not run")


def cpu_per_call_us(rps: float, cpu_pct: dict[str, float], server: str) -> float:
    """`server`'s CPU time per call in one round, in µs (NaN without calls or a reading)."""
    busy = cpu_pct.get(server)
    if busy is None or not rps:
        return float("nan")
    return busy / 100 / rps * 1e6


def native_checks(b: Bench, sc: str, runs: dict[str, Run], load: str) -> None:
    """The C header path against our one worker (info): c=64 rate and CPU per call as the
    medians of per-round ratios, and the c=1 p50."""
    ours_label = gateway_label(1)
    native64 = runs.get(key(NATIVE, 64))
    if native64 is None:
        for measured in NATIVE_CHECKS:
            b.report.checks.append(Check(sc, f"{NATIVE}, {measured}", "—", "—", "—", "not run"))
        return
    ours64, ours1, native1 = (
        runs[key(ours_label, 64)],
        runs[key(ours_label, 1)],
        runs[key(NATIVE, 1)],
    )
    ratio = rate_ratio(native64, ours64)
    check(
        b,
        sc,
        f"{NATIVE}, {NATIVE_CHECKS[0]}",
        f"{native64.rps:,.0f} req/s = {ratio / 100:.2f}x",
        f"Python {ours64.rps:,.0f} req/s; load {load}",
        "—",
        None,
    )
    pairs = [
        (
            cpu_per_call_us(c_rps, c_cpu, NATIVE_SERVER),
            cpu_per_call_us(py_rps, py_cpu, gateway_server(1)),
        )
        for c_rps, c_cpu, py_rps, py_cpu in zip(
            native64.samples_rps,
            native64.samples_cpu_pct,
            ours64.samples_rps,
            ours64.samples_cpu_pct,
            strict=True,
        )
    ]
    check(
        b,
        sc,
        f"{NATIVE}, {NATIVE_CHECKS[1]}",
        f"{statistics.median(c for c, _ in pairs):.0f} µs = "
        f"{statistics.median(c / py if py else float('nan') for c, py in pairs):.2f}x",
        f"Python {statistics.median(py for _, py in pairs):.0f} µs (gateway process only)",
        "—",
        None,
    )
    check(
        b,
        sc,
        f"{NATIVE}, {NATIVE_CHECKS[2]}",
        f"{ms(native1.p50_ms) * 1000:.0f} µs ({added_ms(native1, ours1) * 1000:+.0f} µs paired)",
        f"Python {ms(ours1.p50_ms) * 1000:.0f} µs; load {load}",
        "—",
        None,
    )
