"""`python -m bench.compare_trees`: the gateway hop of several source trees, measured in turn.

For work on the hot path (issue 36). A tree is a git revision of this repository
(exported with `git archive`), `.` for the working tree, or a folder; `+mypyc` after it
compiles that tree's hot-path modules (`MYPYC_MODULES`) with mypyc first, in a copy.
Every tree's gateway (static provider, `--workers` processes) runs beside the others
against one echo upstream (bench/echo_server.py). Each round measures every tree once, in
turn: at c=64 the rate and the gateway's CPU per call (from /proc), at c=1 the p50; a busy
machine slows every tree of a round alike. Medians over the rounds, ratios against the
first tree, the 1-minute load average beside them.

    python -m bench.compare_trees HEAD~1 .            # before and after a change
    python -m bench.compare_trees HEAD HEAD+mypyc     # the hot path compiled by mypyc
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import NotAvailable, Server, start_echo, start_gateway
from bench.report import load_average
from bench.scenarios import BODY
from bench.wrk import ensure_wrk, run_wrk
from tests.support import ROOT

MYPYC_SUFFIX = "+mypyc"
MYPYC_MODULES = (
    "gateway/http_cycle.py",
    "gateway/proxy/handler.py",
    "gateway/proxy/forwarder.py",
    "gateway/proxy/headers.py",
    "gateway/proxy/http1/client.py",
    "gateway/proxy/http1/request.py",
    "gateway/routing/rules.py",
)
"""The hot path's modules mypyc compiles (gateway/proxy/http1/connection.py is left out:
mypyc does not compile async generators yet; the protocols subclass uvicorn's classes)."""
_COPY_IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", "*.so")


@dataclass
class TreeResult:
    """One tree's samples, one per round."""

    label: str
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    p50_us: list[float] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    errors: int = 0
    """Failed calls (socket errors and non-2xx answers) over every run: a tree whose
    gateway answers errors fast is not faster."""


def prepare(spec: str, into: Path) -> Path:
    """The folder the gateway of tree `spec` runs from (see the module docstring);
    `NotAvailable` when the revision does not exist or mypyc cannot compile it."""
    base = spec.removesuffix(MYPYC_SUFFIX)
    compiled = spec != base
    source = ROOT if base == "." else Path(base)
    if source.is_dir() and not compiled:
        return source
    into.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, into, ignore=_COPY_IGNORED, dirs_exist_ok=True)
    else:
        export(base, into)
    if compiled:
        compile_with_mypyc(into)
    return into


def export(revision: str, into: Path) -> None:
    """The files of git `revision` of this repository, written to `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise NotAvailable(f"no revision {revision!r}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def compile_with_mypyc(tree: Path) -> None:
    """Compile `MYPYC_MODULES` of `tree` in place (extension modules beside the sources)."""
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *MYPYC_MODULES],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
        raise NotAvailable(f"mypyc could not compile the hot path:\n{tail}")


def _cpu(server: Server) -> float:
    return sum(server.cpu_seconds().values())


def measure(
    gateways: Sequence[tuple[str, Server]], rounds: int, duration_s: float
) -> list[TreeResult]:
    """`rounds` rounds over `gateways` (label, server), each measured at c=64 then c=1."""
    wrk = ensure_wrk()
    results = [TreeResult(label) for label, _ in gateways]
    for _, server in gateways:  # warm-up: connections pooled, code paths run once
        run_wrk(wrk, f"{server.base_url}/function/echo", concurrency=64, duration_s=1, body=BODY)
    for _ in range(rounds):
        for result, (_, server) in zip(results, gateways, strict=True):
            url = f"{server.base_url}/function/echo"
            before = _cpu(server)
            busy = run_wrk(wrk, url, concurrency=64, duration_s=duration_s, body=BODY)
            used = _cpu(server) - before
            one = run_wrk(wrk, url, concurrency=1, duration_s=duration_s, body=BODY)
            result.rates.append(busy.rps)
            result.cpu_us.append(used / max(busy.requests, 1) * 1e6)
            result.p50_us.append(one.p50_ms * 1000)
            result.loads.append(load_average())
            result.errors += busy.errors + one.errors
            print(
                f"  {result.label}: c=64 {busy.rps:,.0f}/s, {result.cpu_us[-1]:.0f} µs CPU per "
                f"call; c=1 p50 {result.p50_us[-1]:.0f} µs; load {result.loads[-1]}",
                flush=True,
            )
    return results


def table(results: Sequence[TreeResult]) -> str:
    """The medians as a Markdown table, each against the first tree."""
    first = results[0]
    base_rate = statistics.median(first.rates)
    base_cpu = statistics.median(first.cpu_us)
    lines = [
        "| tree | c=64 calls/s | vs first | CPU per call | vs first | c=1 p50 | errors | loads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        rate = statistics.median(result.rates)
        cpu = statistics.median(result.cpu_us)
        lines.append(
            f"| {result.label} | {rate:,.0f} | {rate / base_rate:.2f}x | {cpu:.0f} µs "
            f"| {cpu / base_cpu:.2f}x | {statistics.median(result.p50_us):.0f} µs "
            f"| {result.errors} | {', '.join(result.loads)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 1 when a tree could not be prepared or started, or calls to it
    failed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare_trees",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("trees", nargs="+", help="revisions, '.', or folders; +mypyc to compile")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1, help="GATEWAY_WORKERS of each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-trees-") as folder, ExitStack() as stack:
        tmp = Path(folder)
        try:
            roots = [prepare(spec, tmp / f"tree-{i}") for i, spec in enumerate(args.trees)]
            echo = stack.enter_context(start_echo(tmp))
            functions = {"echo": f"127.0.0.1:{echo.port}"}
            gateways = [
                (
                    spec,
                    stack.enter_context(
                        start_gateway(tmp, functions, spec, args.workers, root=root)
                    ),
                )
                for spec, root in zip(args.trees, roots, strict=True)
            ]
        except NotAvailable as error:
            print(f"compare_trees: {error}", file=sys.stderr)
            return 1
        print(f"{len(gateways)} trees, {args.rounds} rounds of {args.duration:g} s, "
              f"{os.cpu_count()} CPUs, workers={args.workers}", flush=True)  # fmt: skip
        results = measure(gateways, args.rounds, args.duration)
        print(table(results))
    failing = [result.label for result in results if result.errors]
    if failing:
        print(f"compare_trees: calls failed on {', '.join(failing)}: "
              "their figures are not comparable", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
