"""`python -m bench.idle_memory`: what one idle function replica's watchdog costs in memory
(issue #35), ours against the Go classic watchdog, as local processes in the same run.

    python -m bench.idle_memory                  # 3 runs, 300 calls, this Python
    python -m bench.idle_memory --python python3.12 --flags=-S --runs 5
    python -m bench.idle_memory --also /tmp/old/fwatchdog.pyz   # before/after, same run
    python -m bench.idle_memory --python python3.12 --zipapp /tmp/fwatchdog.pyz  # precompiled
                                                                # by python3.12 (the image's)

Each subject is started alone, read once it is healthy and has rested (`SETTLE_SECONDS`),
given `--calls` calls on one keep-alive connection (a 5-byte POST), left idle again and read
again: VmRSS, RssAnon (private, not shared with any other process) and Pss (the shared
pages divided among the processes that map them) of the watchdog's own process, never its
children. Subjects: our watchdog in fork mode (`fprocess=cat`) and in http mode (in front
of bench/echo_server.py; only the watchdog counts), and the Go classic watchdog in fork
mode (`REFERENCE_WATCHDOG`, else `../shared/refs/fwatchdog-go`; it has no http mode).
Medians over `--runs`. The breakdown then shows where our watchdog's memory goes: the
bare interpreter, asyncio, the watchdog's modules, and the thread count.

The Go watchdog always opens port 8081 for its metrics, so the subjects run one at a time
and the tool says so when that port is taken (e.g. by a `make bench` running beside it).
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.processes import (
    ECHO_SERVER,
    NotAvailable,
    Server,
    StartError,
    start_watchdog,
    wait_http_ok,
    workdir,
)
from bench.report import load_average
from bench.scenarios import Bench, check, reference_watchdog
from tests.support import free_port, watchdog_zipapp

CALLS = 300
"""Calls made between the two readings."""
RUNS = 3
"""Runs per subject; the table shows medians."""
GO_METRICS_PORT = 8081
"""Where the Go classic watchdog always serves its metrics (not settable)."""
SETTLE_SECONDS = 1.0
"""Rest before each reading, so that nothing of a start or a call is still in flight."""


@dataclass(frozen=True)
class Memory:
    """One reading of a process, in KiB (threads: a count)."""

    rss: int
    anon: int
    pss: int
    threads: int


def read_memory(pid: int) -> Memory:
    """VmRSS, RssAnon and Threads from /proc/<pid>/status, Pss from smaps_rollup."""
    fields: dict[str, int] = {}
    for name in ("status", "smaps_rollup"):
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "Threads", "Pss"):
                fields[key] = int(value.split()[0])
    return Memory(fields["VmRSS"], fields["RssAnon"], fields["Pss"], fields["Threads"])


def call(port: int, calls: int) -> None:
    """`calls` small POSTs on one keep-alive connection; every answer must be a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(calls):
            conn.request("POST", "/", body=b"hello")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise StartError(f"port {port} answered {response.status}")
    finally:
        conn.close()


Starter = Callable[[Path], Server]


def ours(python: str, flags: list[str], mode: str, zipapp: Path | None = None) -> Starter:
    """A starter for our watchdog (`zipapp`, else the one built from this tree) run by
    `python` with `flags`."""
    command = shlex.join([python, *flags, str(zipapp or watchdog_zipapp())])

    def start(tmp: Path) -> Server:
        if mode == "fork":
            return start_watchdog(tmp, "cat", executable=command, name="ours fork")
        upstream = free_port()
        echo = shlex.join([sys.executable, str(ECHO_SERVER), "--port", str(upstream)])
        extra = {"mode": "http", "upstream_url": f"http://127.0.0.1:{upstream}"}
        server = start_watchdog(tmp, echo, extra, executable=command, name="ours http")
        wait_http_ok(f"http://127.0.0.1:{upstream}/", 10.0, alive=server)
        return server

    return start


def go(executable: str) -> Starter:
    """A starter for the Go classic watchdog."""

    def start(tmp: Path) -> Server:
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", GO_METRICS_PORT))
            except OSError:
                raise NotAvailable(
                    f"port {GO_METRICS_PORT} (the Go watchdog's metrics) is taken; run alone"
                ) from None
        return start_watchdog(tmp, "cat", executable=executable, name="Go classic fork")

    return start


def measure(start: Starter, calls: int) -> tuple[Memory, Memory]:
    """Start a subject, read it at rest, call it `calls` times, read it at rest again."""
    with start(workdir()) as server:
        time.sleep(SETTLE_SECONDS)
        before = read_memory(server.pid)
        call(server.port, calls)
        time.sleep(SETTLE_SECONDS)
        return before, read_memory(server.pid)


def median(readings: list[Memory]) -> Memory:
    """The median of each field."""
    return Memory(
        *(
            int(statistics.median(getattr(m, f) for m in readings))
            for f in ("rss", "anon", "pss", "threads")
        )
    )


def breakdown(python: str, flags: list[str], archive: Path | None) -> list[tuple[str, Memory]]:
    """RSS of `python` after each stage of what the watchdog (`archive`, else the one built
    from here) loads, in one process each."""
    zipapp = str(archive or watchdog_zipapp())
    block_ssl = "import sys; sys.modules['ssl'] = None; "  # as fwatchdog.__main__ does
    stages = [
        ("bare interpreter", "pass"),
        ("+ asyncio (with its ssl)", "import asyncio"),
        ("+ asyncio, ssl blocked", block_ssl + "import asyncio"),
        (
            "+ the watchdog's modules",
            f"{block_ssl}import sys; sys.path.insert(0, {zipapp!r}); "
            "import fwatchdog.server, fwatchdog.runners.process",
        ),
    ]
    rows = []
    for label, code in stages:
        script = f"{code}\nimport time; time.sleep(60)"
        proc = subprocess.Popen([python, *flags, "-c", script])
        try:
            time.sleep(SETTLE_SECONDS)
            rows.append((label, read_memory(proc.pid)))
        finally:
            proc.kill()
            proc.wait()
    return rows


def kib(value: int) -> str:
    """KiB as MB with one decimal."""
    return f"{value / 1024:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables; exit 1 when a subject could not run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="runs our watchdog")
    parser.add_argument("--flags", default="", help="interpreter flags, e.g. -S")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--zipapp", type=Path, help="the fwatchdog.pyz to measure (default: built from here)"
    )
    parser.add_argument(
        "--also", type=Path, help="another fwatchdog.pyz to measure beside (e.g. an older one)"
    )
    args = parser.parse_args(argv)
    flags = shlex.split(args.flags)
    subjects: list[tuple[str, Starter]] = [
        ("ours, fork mode", ours(args.python, flags, "fork", args.zipapp)),
        ("ours, http mode (watchdog only)", ours(args.python, flags, "http", args.zipapp)),
    ]
    if args.also:
        subjects += [
            (f"{args.also.name}, fork mode", ours(args.python, flags, "fork", args.also)),
            (f"{args.also.name}, http mode", ours(args.python, flags, "http", args.also)),
        ]
    reference = reference_watchdog()
    if reference:
        subjects.append(("Go classic watchdog, fork mode", go(reference)))
    load_before = load_average()
    results: dict[str, tuple[list[Memory], list[Memory]]] = {}
    failed = False
    for _ in range(args.runs):
        for name, start in subjects:
            try:
                before, after = measure(start, args.calls)
            except (NotAvailable, StartError) as exc:
                print(f"idle_memory: {name}: {exc}", file=sys.stderr)
                failed = True
                continue
            rest, called = results.setdefault(name, ([], []))
            rest.append(before)
            called.append(after)
    version = subprocess.run([args.python, "-V"], capture_output=True, text=True).stdout.strip()
    print(
        f"\nOne idle watchdog, medians of {args.runs} runs; ours on {version} "
        f"{' '.join(flags)}; load average before/after: {load_before} / {load_average()}\n"
    )
    print(
        f"| subject | RSS MB at rest | RssAnon | PSS | after {args.calls} calls: RSS | "
        "RssAnon | PSS | threads |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (rest, called) in results.items():
        a, b = median(rest), median(called)
        print(
            f"| {name} | {kib(a.rss)} | {kib(a.anon)} | {kib(a.pss)} | {kib(b.rss)} | "
            f"{kib(b.anon)} | {kib(b.pss)} | {b.threads} |"
        )
    print(f"\nWhere ours goes ({version} {' '.join(flags)}, one process per stage)\n")
    print("| stage | RSS MB | RssAnon | PSS |")
    print("|---|---|---|---|")
    for label, memory in breakdown(args.python, flags, args.zipapp):
        print(f"| {label} | {kib(memory.rss)} | {kib(memory.anon)} | {kib(memory.pss)} |")
    return 1 if failed else 0


def idle_memory_scenario(b: Bench) -> None:
    """Scenario 9 (local): one idle watchdog's RSS, ours (fork and http mode, this Python)
    against the Go classic watchdog, medians of `RUNS`; the target is the Go one's."""
    sc = "9"
    subjects: list[tuple[str, Starter]] = [
        ("ours, fork mode", ours(sys.executable, [], "fork")),
        ("ours, http mode (watchdog only)", ours(sys.executable, [], "http")),
    ]
    reference = reference_watchdog()
    if not reference:
        raise NotAvailable("the Go classic watchdog is missing (REFERENCE_WATCHDOG)")
    subjects.append(("Go classic watchdog, fork mode", go(reference)))
    rest: dict[str, list[Memory]] = {}
    called: dict[str, list[Memory]] = {}
    for _ in range(RUNS):
        for name, start in subjects:
            before, after = measure(start, CALLS)
            rest.setdefault(name, []).append(before)
            called.setdefault(name, []).append(after)
    go_rest = median(rest[subjects[-1][0]])
    go_called = median(called[subjects[-1][0]])
    for name, _ in subjects[:-1]:
        at_rest, after = median(rest[name]), median(called[name])
        check(
            b,
            sc,
            f"{name}: RSS MB at rest / after {CALLS} calls (PSS at rest)",
            f"{kib(at_rest.rss)} / {kib(after.rss)} ({kib(at_rest.pss)})",
            f"Go classic: {kib(go_rest.rss)} / {kib(go_called.rss)} ({kib(go_rest.pss)})",
            "≤ Go's at rest",
            at_rest.rss <= go_rest.rss,
        )
    stages = breakdown(sys.executable, [], None)
    check(
        b,
        sc,
        "where ours goes (RSS MB, one process per stage)",
        "; ".join(f"{label} {kib(memory.rss)}" for label, memory in stages),
        "—",
        "—",
        None,
    )


if __name__ == "__main__":
    sys.exit(main())
