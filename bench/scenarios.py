"""The scenarios. Each one starts its servers, measures subject and reference in the same
rounds (interleaved, so both see the same noise), and adds runs and checks to the report.

Numbered as in the issue: 1 watchdog fork mode, 2 watchdog http mode, 3 gateway hop,
4 large payloads, 5 scale of discovery. All run as local processes; the swarm variants
of 3-5 (bench/swarm.py) and scenarios 6 and 7 (bench/proxy_hop.py, bench/kill.py) reuse
the machinery here: `wrk_case`, `measure`, `check`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench import floor, large
from bench.processes import (
    Server,
    start_echo,
    start_gateway,
    start_http_watchdog,
    start_watchdog,
)
from bench.report import Check, Report, Run, Verdict
from bench.wrk import run_wrk
from tests.support import ROOT

BODY = b"x" * 100
LARGE_BODY = 100 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    duration_s: float
    rounds: int
    warmup_s: float
    quick: bool


@dataclass
class Bench:
    """What every scenario needs: settings, wrk, a scratch directory and the report."""

    settings: Settings
    wrk: str
    tmp: Path
    report: Report
    c_floor: Path | None = None


class CpuSource(Protocol):
    """Something whose CPU time can be read: a local `Server`, or a swarm container."""

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far, by label."""
        ...


@dataclass(frozen=True)
class Sample:
    """One measurement of one case."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    cpu_pct: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """A subject under a given load. `run(duration)` measures it once."""

    label: str
    concurrency: int | None
    run: Callable[[float], Sample]
    warmup: Callable[[float], None] | None = None


def wrk_case(
    b: Bench,
    label: str,
    url: str,
    concurrency: int,
    servers: Sequence[CpuSource],
    *,
    body: bytes | None = BODY,
    method: str = "POST",
    paths: list[str] | None = None,
    prefix: Sequence[str] = (),
) -> Case:
    """A case measured with wrk; CPU is sampled from `servers` around the run.

    `prefix` runs wrk through another command (e.g. nsenter into a network namespace).
    """

    def run(duration: float) -> Sample:
        before = cpu_snapshot(servers)
        start = time.monotonic()
        result = run_wrk(
            b.wrk,
            url,
            concurrency=concurrency,
            duration_s=duration,
            body=body,
            method=method,
            paths=paths,
            prefix=prefix,
        )
        wall = time.monotonic() - start
        cpu = cpu_percent(before, cpu_snapshot(servers), wall)
        cpu["wrk"] = result.client_cpu_s / wall * 100
        return Sample(result.rps, result.p50_ms, result.p99_ms, result.errors, cpu)

    def warmup(duration: float) -> None:
        run_wrk(
            b.wrk,
            url,
            concurrency=concurrency,
            duration_s=duration,
            body=body,
            method=method,
            paths=paths,
            prefix=prefix,
        )

    return Case(label, concurrency, run, warmup)


def cpu_snapshot(servers: Sequence[CpuSource]) -> dict[str, float]:
    """CPU seconds used so far, by label, over `servers`."""
    snapshot: dict[str, float] = {}
    for server in servers:
        snapshot.update(server.cpu_seconds())
    return snapshot


def cpu_percent(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """Per-label CPU use between two snapshots, in percent of one core."""
    return {k: (after[k] - before.get(k, 0.0)) / wall * 100 for k in after} if wall > 0 else {}


def measure(b: Bench, scenario: str, cases: Sequence[Case]) -> dict[str, Run]:
    """Warm each case up, then run all cases once per round; medians per case.

    Returns runs keyed by `label@c` (also appended to the report).
    """
    s = b.settings
    for case in cases:
        if case.warmup is not None and s.warmup_s > 0:
            case.warmup(s.warmup_s)
    samples: dict[str, list[Sample]] = {}
    for round_no in range(s.rounds):
        for case in cases:
            sample = case.run(s.duration_s)
            samples.setdefault(key(case.label, case.concurrency), []).append(sample)
            progress(
                f"  [{scenario} round {round_no + 1}/{s.rounds}] {case.label} "
                f"c={case.concurrency}: {sample.rps:,.0f} req/s, p50 {sample.p50_ms:.2f} ms, "
                f"p99 {sample.p99_ms:.2f} ms"
                + (f", {sample.errors} errors" if sample.errors else "")
            )
    runs: dict[str, Run] = {}
    for case in cases:
        k = key(case.label, case.concurrency)
        got = samples[k]
        names = got[0].cpu_pct.keys()
        run = Run(
            scenario=scenario,
            label=case.label,
            concurrency=case.concurrency,
            rps=statistics.median(x.rps for x in got),
            p50_ms=statistics.median(x.p50_ms for x in got),
            p99_ms=statistics.median(x.p99_ms for x in got),
            cpu_pct={n: statistics.median(x.cpu_pct[n] for x in got) for n in names},
            errors=sum(x.errors for x in got),
            rounds=len(got),
            samples_rps=[round(x.rps, 1) for x in got],
            samples_p50_ms=[round(x.p50_ms, 3) for x in got],
            samples_p99_ms=[round(x.p99_ms, 3) for x in got],
            samples_cpu_pct=[x.cpu_pct for x in got],
        )
        runs[k] = run
        b.report.runs.append(run)
        if run.errors:
            b.report.problems.append(
                f"{scenario}: {case.label} c={case.concurrency}: "
                f"{run.errors} errors or non-2xx responses"
            )
    return runs


def key(label: str, concurrency: int | None) -> str:
    """The key of a run in `measure`'s result."""
    return f"{label}@{concurrency}"


def progress(line: str) -> None:
    """One line of progress on stderr."""
    print(line, file=sys.stderr, flush=True)


def check(
    b: Bench,
    scenario: str,
    what: str,
    measured: str,
    reference: str,
    target: str,
    ok: bool | None,
) -> None:
    """Add a check; `ok` None means informative (no target)."""
    verdict: Verdict = "info" if ok is None else ("PASS" if ok else "MISS")
    b.report.checks.append(Check(scenario, what, measured, reference, target, verdict))


def pct(part: float | None, whole: float | None) -> float:
    """part / whole in percent (0 when undefined)."""
    return 100 * part / whole if part and whole else 0.0


def rate_ratio(subject: Run, reference: Run) -> float:
    """Subject's rate as % of the reference's: the median of the per-round ratios.

    Both were measured in the same rounds, so a noisy round moves both; pairing them
    round by round cancels more of the noise than a ratio of medians.
    """
    pairs = list(zip(subject.samples_rps, reference.samples_rps, strict=False))
    if not pairs:
        return pct(subject.rps, reference.rps)
    return statistics.median(pct(a, b) for a, b in pairs)


def added_ms(subject: Run, reference: Run, which: str = "p50") -> float:
    """Subject's latency minus the reference's (ms): the median of per-round differences."""
    a = subject.samples_p50_ms if which == "p50" else subject.samples_p99_ms
    b = reference.samples_p50_ms if which == "p50" else reference.samples_p99_ms
    if not a or not b:
        single_a = subject.p50_ms if which == "p50" else subject.p99_ms
        single_b = reference.p50_ms if which == "p50" else reference.p99_ms
        return ms(single_a) - ms(single_b)
    return statistics.median(x - y for x, y in zip(a, b, strict=False))


def ms(value: float | None) -> float:
    """A latency that may be missing, as a float (NaN when missing)."""
    return value if value is not None else float("nan")


def touch(url: str, body: bytes = BODY, count: int = 3) -> None:
    """A few plain requests so that connections and code paths are warm."""
    for _ in range(count):
        request = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


# ---------------------------------------------------------------------------------------
# 1. Watchdog, fork per request


def floor_case(b: Bench, label: str, spawners: int) -> Case:
    """The fork floor as a case: the C loop (or Python's when there is no cc)."""

    def run(duration: float) -> Sample:
        if b.c_floor is not None:
            result = floor.run_c_floor(b.c_floor, duration, spawners)
        else:
            result = floor.run_python_floor(duration)
        return Sample(result.rps, result.p50_ms, result.p99_ms, result.bad)

    return Case(label, spawners, run)


def python_floor_case() -> Case:
    """Python's `subprocess.run` loop as a case."""

    def run(duration: float) -> Sample:
        result = floor.run_python_floor(duration)
        return Sample(result.rps, result.p50_ms, result.p99_ms, result.bad)

    return Case("fork floor, Python subprocess.run loop", 1, run)


QUIET = "watchdog (ours, log_calls=false)"
GO_WATCHDOG_FALLBACK = ROOT.parent / "shared" / "refs" / "fwatchdog-go"


def reference_watchdog() -> str:
    """The watchdog to compare with: env `REFERENCE_WATCHDOG` (a command line), else the Go
    classic watchdog at `../shared/refs/fwatchdog-go` beside the checkout; "" if neither."""
    named = os.environ.get("REFERENCE_WATCHDOG", "").strip()
    if named:
        return named
    fallback = GO_WATCHDOG_FALLBACK
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else ""


def watchdog_fork(b: Bench) -> None:
    """Scenario 1: our watchdog (fprocess=cat) at c=1/8/64 vs the fork floor (+ reference)."""
    sc = "1"
    cores = os.cpu_count() or 1
    floor_kind = "C fork+exec" if b.c_floor is not None else "Python (no cc)"
    floor1 = f"fork floor, {floor_kind}, 1 spawner"
    floorn = f"fork floor, {floor_kind}, {cores} spawners"
    with ExitStack() as stack:
        wd = stack.enter_context(start_watchdog(b.tmp))
        # The same watchdog without the classic per-call log lines: what they cost.
        quiet = stack.enter_context(
            start_watchdog(b.tmp, extra={"log_calls": "false"}, name="watchdog quiet")
        )
        ref: Server | None = None
        ref_exe = reference_watchdog()
        if ref_exe:
            ref = stack.enter_context(
                start_watchdog(b.tmp, executable=ref_exe, name="reference watchdog")
            )
        touch(wd.base_url + "/")
        touch(quiet.base_url + "/")
        cases = [floor_case(b, floor1, 1), floor_case(b, floorn, cores), python_floor_case()]
        for c in (1, 8, 64):
            cases.append(wrk_case(b, "watchdog (ours)", wd.base_url + "/", c, [wd]))
            if c != 8:
                cases.append(wrk_case(b, QUIET, quiet.base_url + "/", c, [quiet]))
            if ref is not None:
                cases.append(wrk_case(b, f"reference: {ref_exe}", ref.base_url + "/", c, [ref]))
        runs = measure(b, sc, cases)
    f1, fn = runs[key(floor1, 1)], runs[key(floorn, cores)]
    w1, w64 = runs[key("watchdog (ours)", 1)], runs[key("watchdog (ours)", 64)]
    check(
        b,
        sc,
        "fork mode c=64: rate vs the fork floor (1 spawner)",
        f"{w64.rps:,.0f} req/s = {rate_ratio(w64, f1):.0f}%",
        f"{f1.rps:,.0f} spawns/s",
        "≥ 90%",
        rate_ratio(w64, f1) >= 90,
    )
    added = added_ms(w1, f1)
    check(
        b,
        sc,
        "fork mode c=1: p50 vs the floor's per-spawn p50",
        f"{ms(w1.p50_ms):.2f} ms ({added:+.2f} ms)",
        f"{ms(f1.p50_ms):.2f} ms",
        "≤ +0.30 ms",
        added <= 0.3,
    )
    check(
        b,
        sc,
        f"fork mode c=64: rate vs the fork floor on all {cores} cores",
        f"{rate_ratio(w64, fn):.0f}%",
        f"{fn.rps:,.0f} spawns/s",
        "—",
        None,
    )
    for c in (1, 64):
        ours, without = runs[key("watchdog (ours)", c)], runs[key(QUIET, c)]
        check(
            b,
            sc,
            f"fork mode c={c}: with the per-call log lines vs without (log_calls=false)",
            f"{ours.rps:,.0f} req/s = {rate_ratio(ours, without):.0f}%",
            f"{without.rps:,.0f} req/s",
            "—",
            None,
        )
    if ref is not None:
        for c in (1, 64):
            ours, theirs = runs[key("watchdog (ours)", c)], runs[key(f"reference: {ref_exe}", c)]
            check(
                b,
                sc,
                f"fork mode c={c}: ours vs REFERENCE_WATCHDOG",
                f"{ours.rps:,.0f} req/s = {rate_ratio(ours, theirs):.0f}%, "
                f"p50 {ms(ours.p50_ms):.2f} ms",
                f"{theirs.rps:,.0f} req/s, p50 {ms(theirs.p50_ms):.2f} ms",
                "—",
                None,
            )


# ---------------------------------------------------------------------------------------
# 2. Watchdog, http mode


def watchdog_http(b: Bench) -> None:
    """Scenario 2: watchdog mode=http in front of the echo server vs the echo server itself."""
    sc = "2"
    with ExitStack() as stack:
        wd, upstream_port = start_http_watchdog(b.tmp)
        stack.enter_context(wd)
        direct = f"http://127.0.0.1:{upstream_port}/"
        touch(wd.base_url + "/")
        cases = []
        for c in (1, 64):
            cases.append(wrk_case(b, "upstream echo, direct", direct, c, [wd]))
            cases.append(wrk_case(b, "watchdog http mode → echo", wd.base_url + "/", c, [wd]))
        runs = measure(b, sc, cases)
    d1, w1 = runs[key("upstream echo, direct", 1)], runs[key("watchdog http mode → echo", 1)]
    d64, w64 = runs[key("upstream echo, direct", 64)], runs[key("watchdog http mode → echo", 64)]
    check(
        b,
        sc,
        "http mode c=1: added p50 / p99",
        f"{added_ms(w1, d1):+.2f} / {added_ms(w1, d1, 'p99'):+.2f} ms",
        f"direct p50 {ms(d1.p50_ms):.2f} ms",
        "—",
        None,
    )
    check(
        b,
        sc,
        "http mode c=64: rate vs upstream direct",
        f"{w64.rps:,.0f} req/s = {rate_ratio(w64, d64):.0f}%",
        f"{d64.rps:,.0f} req/s",
        "—",
        None,
    )


# ---------------------------------------------------------------------------------------
# 3. Gateway hop


def gateway_hop(b: Bench) -> None:
    """Scenario 3: a fork and an http-mode function, hit directly vs through the gateway."""
    sc = "3"
    with ExitStack() as stack:
        fork_wd = stack.enter_context(start_watchdog(b.tmp, name="watchdog"))
        http_wd, _ = start_http_watchdog(b.tmp)
        stack.enter_context(http_wd)
        gw = stack.enter_context(
            start_gateway(
                b.tmp,
                {"cat": f"127.0.0.1:{fork_wd.port}", "echo": f"127.0.0.1:{http_wd.port}"},
            )
        )
        targets = [
            ("fork function (cat)", fork_wd, "/function/cat"),
            ("http-mode function (echo)", http_wd, "/function/echo"),
        ]
        cases = []
        for kind, wd, path in targets:
            touch(gw.base_url + path)
            for c in (1, 64):
                cases.append(wrk_case(b, f"{kind}, direct", wd.base_url + "/", c, [wd]))
                cases.append(wrk_case(b, f"{kind}, via gateway", gw.base_url + path, c, [gw, wd]))
        # Versions (docs/versions.md): one more gateway, serving alone, routes to the same
        # http-mode function as one version and as two weighted ones (50/50, both on it).
        versioned = stack.enter_context(
            start_gateway(
                b.tmp,
                {name: f"127.0.0.1:{http_wd.port}" for name in ("one", "two", "two@v2")},
                name="gateway versions",
                module="bench.versioned_gateway",
            )
        )
        for label, path in VERSION_CASES:
            touch(versioned.base_url + path)
            for c in (1, 64):
                cases.append(wrk_case(b, label, versioned.base_url + path, c, [versioned, http_wd]))
        runs = measure(b, sc, cases)
    hop_checks(b, sc, [kind for kind, _, _ in targets], runs)
    version_checks(b, sc, runs)


VERSION_CASES = (
    ("http-mode function (echo), 1 version, 1 worker", "/function/one"),
    ("http-mode function (echo), 2 weighted versions, 1 worker", "/function/two"),
)


def version_checks(b: Bench, sc: str, runs: dict[str, Run]) -> None:
    """Two weighted versions against one, through the same gateway in the same rounds:
    the weighted choice should cost nothing measurable (the issue: within noise)."""
    (one_label, _), (two_label, _) = VERSION_CASES
    for c in (1, 64):
        one, two = runs[key(one_label, c)], runs[key(two_label, c)]
        check(
            b,
            sc,
            f"gateway hop c={c}, 2 weighted versions vs 1: p50 (rate)",
            f"{added_ms(two, one):+.3f} ms ({rate_ratio(two, one):.0f}%)",
            f"1 version: p50 {ms(one.p50_ms):.2f} ms, {one.rps:,.0f} req/s",
            "—",
            None,
        )


def hop_checks(b: Bench, sc: str, kinds: Sequence[str], runs: dict[str, Run]) -> None:
    """The gateway-hop targets for each function kind, from "<kind>, direct" and
    "<kind>, via gateway" runs at c=1 and c=64. Kinds starting with "http" get the
    c=64 rate target; the others are informative."""
    for kind in kinds:
        d1, g1 = runs[key(f"{kind}, direct", 1)], runs[key(f"{kind}, via gateway", 1)]
        d64, g64 = runs[key(f"{kind}, direct", 64)], runs[key(f"{kind}, via gateway", 64)]
        added50, added99 = added_ms(g1, d1), added_ms(g1, d1, "p99")
        check(
            b,
            sc,
            f"gateway hop c=1, {kind}: added p50 (p99)",
            f"{added50:+.2f} ms ({added99:+.2f} ms)",
            f"direct p50 {ms(d1.p50_ms):.2f} ms",
            "≤ +0.50 ms",
            added50 <= 0.5,
        )
        is_http = kind.startswith("http")
        check(
            b,
            sc,
            f"gateway hop c=64, {kind}: rate vs direct",
            f"{g64.rps:,.0f} req/s = {rate_ratio(g64, d64):.0f}%",
            f"{d64.rps:,.0f} req/s",
            "≥ 60%" if is_http else "—",
            rate_ratio(g64, d64) >= 60 if is_http else None,
        )


# ---------------------------------------------------------------------------------------
# 4. Large payloads


Transfer = tuple[str, Callable[[], large.TransferResult], Sequence[CpuSource]]
"""A large-body subject: its label, how to send one body, whose CPU to sample."""


def transfer_rounds(
    b: Bench, sc: str, subjects: Sequence[Transfer]
) -> dict[str, list[tuple[large.TransferResult, dict[str, float]]]]:
    """Send one body per subject per round (interleaved); results and CPU % by label."""
    rounds = b.settings.rounds
    results: dict[str, list[tuple[large.TransferResult, dict[str, float]]]] = {}
    for round_no in range(rounds):
        for label, send, servers in subjects:
            before = cpu_snapshot(servers)
            result = send()
            cpu = cpu_percent(before, cpu_snapshot(servers), result.elapsed_s)
            results.setdefault(label, []).append((result, cpu))
            progress(
                f"  [{sc} round {round_no + 1}/{rounds}] {label}: status {result.status}, "
                f"{result.received:,} of {result.sent:,} bytes back, "
                f"{result.mb_per_s:,.0f} MB/s"
            )
    return results


def record_transfers(
    b: Bench,
    sc: str,
    results: dict[str, list[tuple[large.TransferResult, dict[str, float]]]],
    notes: dict[str, str],
) -> dict[str, float]:
    """Add one run per subject (median MB/s in its note, plus `notes[label]`), report
    failed or short transfers as problems; return the median MB/s by label."""
    mbps: dict[str, float] = {}
    for label, got in results.items():
        mbps[label] = statistics.median(r.mb_per_s for r, _ in got)
        bad = [r for r, _ in got if r.status != 200 or r.received != r.sent]
        names = got[0][1].keys()
        note = f"{mbps[label]:,.0f} MB/s ({LARGE_BODY / 2**20:.0f} MiB body)"
        if notes.get(label):
            note += f"; {notes[label]}"
        b.report.runs.append(
            Run(
                scenario=sc,
                label=label,
                concurrency=1,
                rps=None,
                p50_ms=None,
                p99_ms=None,
                cpu_pct={n: statistics.median(c[n] for _, c in got) for n in names},
                errors=len(bad),
                rounds=len(got),
                samples_rps=[],
                note=note,
            )
        )
        if bad:
            b.report.problems.append(
                f"{sc}: {label}: {len(bad)} transfers failed or came back short "
                f"(status {bad[0].status}, {bad[0].received:,} of {bad[0].sent:,} bytes)"
            )
    return mbps


def rss_checks(b: Bench, sc: str, peaks: Sequence[tuple[str, int, int]], note: str = "") -> None:
    """The < 100 MB peak RSS target, for each (name, peak bytes, idle bytes)."""
    for name, peak, base in peaks:
        check(
            b,
            sc,
            f"100 MiB body: {name} peak RSS (VmHWM)",
            f"{peak / 1e6:.0f} MB",
            f"{base / 1e6:.0f} MB idle{note}",
            "< 100 MB",
            peak < 100e6,
        )


def large_payloads(b: Bench) -> None:
    """Scenario 4: 100 MiB through gateway + watchdog (cat): MB/s and peak RSS of both."""
    sc = "4"
    size = LARGE_BODY
    with ExitStack() as stack:
        wd = stack.enter_context(start_watchdog(b.tmp, name="watchdog"))
        gw = stack.enter_context(start_gateway(b.tmp, {"cat": f"127.0.0.1:{wd.port}"}))
        base_wd, base_gw = wd.peak_rss(), gw.peak_rss()
        subjects: list[Transfer] = [
            ("pipe through one cat process (floor)", lambda: large.pipe_through_cat(size), []),
            (
                "watchdog (cat), direct",
                lambda: large.post_large("127.0.0.1", wd.port, "/", size),
                [wd],
            ),
            (
                "gateway → watchdog (cat)",
                lambda: large.post_large("127.0.0.1", gw.port, "/function/cat", size),
                [gw, wd],
            ),
        ]
        results = transfer_rounds(b, sc, subjects)
        peak_wd, peak_gw = wd.peak_rss(), gw.peak_rss()
    notes = {
        "gateway → watchdog (cat)": (
            f"peak RSS gateway {peak_gw / 1e6:.0f} MB, watchdog {peak_wd / 1e6:.0f} MB"
        )
    }
    mbps = record_transfers(b, sc, results, notes)
    via, direct = mbps["gateway → watchdog (cat)"], mbps["watchdog (cat), direct"]
    check(
        b,
        sc,
        "100 MiB through gateway + watchdog: throughput",
        f"{via:,.0f} MB/s = {pct(via, direct):.0f}% of direct",
        f"watchdog direct {direct:,.0f} MB/s; pipe {mbps[subjects[0][0]]:,.0f} MB/s",
        "—",
        None,
    )
    rss_checks(b, sc, [("gateway", peak_gw, base_gw), ("watchdog", peak_wd, base_wd)])


# ---------------------------------------------------------------------------------------
# 5. Scale of discovery


def cpu_count() -> int:
    """The CPUs this process may use (the gateway's default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


METRICS_TARGET_MS = 10.0
"""`GET /metrics` with 200 functions: the issue's target for its p50."""


def discovery_scale(b: Bench) -> None:
    """Scenario 5: routing and /metrics with 200 static functions vs 3 (same upstream),
    with one gateway worker, and with 200 functions on one worker per CPU."""
    sc = "5"
    many = max(2, cpu_count())
    setups = ((3, 1), (200, 1), (200, many))
    with ExitStack() as stack:
        echo = stack.enter_context(start_echo(b.tmp))
        gateways: dict[tuple[int, int], Server] = {}
        paths: dict[int, list[str]] = {}
        for n, workers in setups:
            names = [f"fn{i:03d}" for i in range(n)]
            gateways[n, workers] = stack.enter_context(
                start_gateway(
                    b.tmp,
                    {x: f"127.0.0.1:{echo.port}" for x in names},
                    name=f"gateway {n} fns {workers}w",
                    workers=workers,
                )
            )
            paths[n] = [f"/function/{x}" for x in names]
            for path in paths[n]:  # every function has served once: metrics for each exist
                touch(gateways[n, workers].base_url + path, count=1)
        metrics_bytes = {
            setup: len(http_get(gw.base_url + "/metrics")) for setup, gw in gateways.items()
        }
        cases = []
        for (n, workers), gw in gateways.items():
            cases.append(
                wrk_case(b, route_label(n, workers), gw.base_url + "/", 1, [gw], paths=paths[n])
            )
            cases.append(
                wrk_case(
                    b,
                    metrics_label(n, workers),
                    gw.base_url + "/metrics",
                    1,
                    [gw],
                    body=None,
                    method="GET",
                )
            )
        runs = measure(b, sc, cases)
    for (n, workers), size in metrics_bytes.items():
        runs[key(metrics_label(n, workers), 1)].note = f"{size:,} bytes"
    for label in (route_label, metrics_label):
        few, many_fns = runs[key(label(3, 1), 1)], runs[key(label(200, 1), 1)]
        what = "route" if label is route_label else "GET /metrics"
        check(
            b,
            sc,
            f"{what} c=1: p50 with 200 functions vs 3",
            f"{ms(many_fns.p50_ms):.2f} ms ({added_ms(many_fns, few):+.2f} ms, "
            f"{ms(many_fns.p50_ms) / ms(few.p50_ms):.2f}x)",
            f"{ms(few.p50_ms):.2f} ms",
            "—",
            None,
        )
    for workers in (1, many):
        scrape = runs[key(metrics_label(200, workers), 1)]
        check(
            b,
            sc,
            f"GET /metrics c=1 with 200 functions, GATEWAY_WORKERS={workers}: p50",
            f"{ms(scrape.p50_ms):.2f} ms ({metrics_bytes[200, workers]:,} bytes)",
            f"3 functions, 1 worker: {ms(runs[key(metrics_label(3, 1), 1)].p50_ms):.2f} ms",
            f"≤ {METRICS_TARGET_MS:g} ms",
            ms(scrape.p50_ms) <= METRICS_TARGET_MS,
        )


def route_label(functions: int, workers: int) -> str:
    """The label of scenario 5's routing case (the 1-worker labels are the old ones)."""
    suffix = "" if workers == 1 else f", {workers} workers"
    return f"route, {functions} functions (round-robin){suffix}"


def metrics_label(functions: int, workers: int) -> str:
    """The label of scenario 5's /metrics case (the 1-worker labels are the old ones)."""
    suffix = "" if workers == 1 else f", {workers} workers"
    return f"GET /metrics, {functions} functions{suffix}"


def http_get(url: str) -> bytes:
    """GET `url` and return its body."""
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


Scenario = tuple[str, Callable[[Bench], None]]
"""A scenario's title and the function that runs it."""

SCENARIOS: dict[str, Scenario] = {
    "1": ("watchdog, fork per request", watchdog_fork),
    "2": ("watchdog, http mode", watchdog_http),
    "3": ("gateway hop", gateway_hop),
    "4": ("large payloads", large_payloads),
    "5": ("scale of discovery", discovery_scale),
}
