"""Scenario 6: the gateway hop against a Go reverse proxy and HAProxy, in the same rounds.

Five paths to the same upstream (bench/echo_server.py), at c=1 and c=64: the upstream
direct; Go's `httputil.ReverseProxy` (bench/goproxy, see bench/reference_proxy.py);
HAProxy (2 threads, keep-alive to the upstream); our gateway with `GATEWAY_WORKERS=1`;
and our gateway with one worker per CPU. The checks are the issue's targets as paired
ratios (ours / Go proxy, ours / HAProxy: ≥ 0.5x at c=64, p50 at c=1 ≤ 120 µs) and added
p50 over direct, each with the machine's 1-minute load average when it was measured.
Without Go or HAProxy, their rows are "not run" and the problems say why; the rest runs.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

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
ADDED_P50_TARGET_MS = 0.25
HAPROXY_RATE_TARGET = 50
"""Ours at c=64 as % of HAProxy's rate (issue 36: half of HAProxy)."""
P50_TARGET_MS = 0.12
"""Ours at c=1: p50 through the gateway (issue 36)."""


def gateway_label(workers: int) -> str:
    """The label of our gateway with `workers` worker processes."""
    return f"our gateway, GATEWAY_WORKERS={workers} → echo"


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


def proxy_hop(b: Bench) -> None:
    """Scenario 6: direct vs Go proxy vs HAProxy vs our gateway (1 and N workers),
    c=1 and c=64."""
    sc = "6"
    many = max(2, cpu_count())
    worker_counts = (1, many)
    binary, why_no_go = go_proxy_binary()
    haproxy, why_no_haproxy = haproxy_binary()
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
                    name=f"gateway {workers}w",
                    workers=workers,
                )
            )
            gateways[gateway_label(workers)] = (gateway, workers)
            subjects.append((gateway_label(workers), gateway.base_url + path, [gateway, echo]))
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
    ours = [gateway_label(w) for w in worker_counts]
    hop_reference_checks(b, sc, runs, ours, binary is not None)
    haproxy_checks(b, sc, runs, ours, load)


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
