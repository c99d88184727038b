"""`python -m bench` (`make bench`): run the scenarios, print the tables, write the JSON.

    python -m bench                 # full run: 5 interleaved rounds of 3 s per case
    python -m bench --quick         # 1 round of 1 s per case, no warm-up (a smoke run)
    python -m bench --only 1,3      # some scenarios only (local and swarm variants)
    python -m bench --update-docs   # also put the table into docs/benchmarks.md
    python -m bench --only 6        # the gateway hop against a Go reverse proxy
    python -m bench --only 7        # kill a gateway worker (and, on a swarm, the container)
    python -m bench --only 8        # async calls: enqueue and drain vs sync calls (swarm: jobs)
    python -m bench --only 9        # an idle watchdog's memory vs Go's (swarm: 1,000 functions)
    python -m bench --swarm         # require the swarm variants of 3-5 and 7-9 (else exit 1)
    python -m bench --no-swarm      # local processes only

Scenarios 1-9 run as local processes. The swarm variants of 3-5 and 7-9 ("3 swarm", ...) run
too when this user is root and a Docker Engine with an active swarm answers; they
deploy the stack of the current sources with scripts/up.sh (and remove it afterwards
only if it was not deployed before). Exit status 0 when every selected scenario ran
(a missed target is a finding, not a failure), 1 when one could not run, or --swarm was
given and the swarm variants could not run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import docker.errors

from bench import async_calls, fleet_growth, floor, idle_memory, jobs, kill, proxy_hop
from bench.processes import NotAvailable, workdir
from bench.report import Check, Report, load_average, machine_description, update_doc
from bench.scenarios import SCENARIOS as BASE_SCENARIOS
from bench.scenarios import Bench, Scenario, Settings
from bench.swarm import SWARM_SCENARIOS as BASE_SWARM_SCENARIOS
from bench.swarm import SwarmBench
from bench.swarm_stack import (
    SwarmConfig,
    deployed_stack,
    engine_version,
    swarm_unavailable_reason,
)
from bench.wrk import ensure_wrk, wrk_version
from tests.support import ROOT

SCENARIOS: dict[str, Scenario] = {
    **BASE_SCENARIOS,
    "6": ("gateway hop vs a Go reverse proxy", proxy_hop.proxy_hop),
    "7": ("kill under load", kill.worker_kill),
    "8": ("async calls", async_calls.async_calls),
    "9": ("functions at rest, and a fleet of them", idle_memory.idle_memory_scenario),
}
SWARM_SCENARIOS: dict[str, Callable[[SwarmBench], None]] = {
    **BASE_SWARM_SCENARIOS,
    **kill.SWARM_SCENARIOS,
    **jobs.SWARM_SCENARIOS,
    **fleet_growth.SWARM_SCENARIOS,
}
KNOWN = f"1-{len(SCENARIOS)}"
SWARM_KNOWN = ", ".join(SWARM_SCENARIOS)
RESULTS = Path(__file__).resolve().with_name("results")
DOC = ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short runs: 1 round of 1 s")
    parser.add_argument("--only", default="", help=f"comma-separated scenario numbers ({KNOWN})")
    parser.add_argument("--duration", type=float, help="seconds per measurement (whole)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (median)")
    swarm = parser.add_mutually_exclusive_group()
    swarm.add_argument(
        "--swarm",
        dest="swarm",
        action="store_const",
        const="required",
        default="auto",
        help=f"require the swarm variants of {SWARM_KNOWN} (default: run them when root and "
        "a swarm is active)",
    )
    swarm.add_argument(
        "--no-swarm", dest="swarm", action="store_const", const="off", help="local runs only"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"replace the results table in {DOC.relative_to(ROOT)}",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios; see the module docstring."""
    args = parse_args(argv)
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in selected if s not in SCENARIOS]
    if unknown:
        print(f"bench: unknown scenario(s) {', '.join(unknown)}; known: {KNOWN}", file=sys.stderr)
        return 2
    settings = Settings(
        duration_s=max(1.0, args.duration or (1.0 if args.quick else 3.0)),
        rounds=max(1, min(args.rounds or (1 if args.quick else 5), 20)),
        warmup_s=0.0 if args.quick else 1.0,
        quick=args.quick,
    )
    wrk = ensure_wrk()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mode = "quick" if args.quick else "full"
    mode += f": {settings.rounds} round(s) x {settings.duration_s:g} s per case"
    report = Report(mode=mode, started=started, machine=machine_description(wrk_version(wrk)))
    tmp = workdir()
    bench = Bench(settings, wrk, tmp, report, c_floor=floor.compile_c_floor(tmp))
    if bench.c_floor is None:
        report.problems.append("no C compiler: the fork floor is Python's subprocess loop")
    t0 = time.monotonic()
    failed = False
    try:
        for number in selected:
            title, scenario = SCENARIOS[number]
            failed |= not run_scenario(report, number, title, partial(scenario, bench))
        swarm_numbers = [n for n in selected if n in SWARM_SCENARIOS]
        if swarm_numbers and args.swarm != "off":
            failed |= not run_swarm(bench, swarm_numbers, required=args.swarm == "required")
    finally:
        report.elapsed_s = time.monotonic() - t0
        report.machine["load_after"] = load_average()
        shutil.rmtree(tmp, ignore_errors=True)
    table = report.markdown()
    print()
    print(table)
    path = report.write(args.out)
    print(f"bench: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if args.update_docs:
        if update_doc(DOC, table):
            print(f"bench: updated {DOC.relative_to(ROOT)}")
        else:
            print(f"bench: {DOC.relative_to(ROOT)} has no BENCH-RESULTS markers; not updated")
    return 1 if failed else 0


def run_scenario(report: Report, number: str, title: str, call: Callable[[], None]) -> bool:
    """Run one scenario; a failure becomes a "not run" row and a problem. True if it ran."""
    print(f"bench: scenario {number}, {title}", file=sys.stderr, flush=True)
    try:
        call()
    except NotAvailable as err:
        report.problems.append(f"{number} ({title}) not run: {err}")
    except Exception as err:
        traceback.print_exc()
        report.problems.append(f"{number} ({title}) failed: {err}")
    else:
        return True
    report.checks.append(Check(number, title, "—", "—", "—", "not run"))
    return False


def swarm_title(number: str) -> str:
    """The title of a swarm variant."""
    return f"{SCENARIOS[number][0]} on the swarm"


def run_swarm(bench: Bench, numbers: list[str], *, required: bool) -> bool:
    """Run the swarm variants of `numbers` (deploying the stack if needed).

    True when they ran, or were not required and cannot run here (then the report says
    why); False when a required one could not run or one failed.
    """
    report = bench.report
    reason = swarm_unavailable_reason()
    if reason is not None:
        if not required:
            print(f"bench: swarm variants skipped: {reason}", file=sys.stderr, flush=True)
            report.problems.append(
                f"swarm variants of {SWARM_KNOWN} skipped: {reason} (--swarm requires them)"
            )
            return True
        for number in numbers:
            report.checks.append(
                Check(f"{number} swarm", swarm_title(number), "—", "—", "—", "not run")
            )
        report.problems.append(f"swarm variants not run: {reason}")
        return False
    ok = True
    t0 = time.monotonic()
    pending = list(numbers)
    try:
        with deployed_stack(SwarmConfig.from_env()) as stack:
            report.machine["docker"] = engine_version(stack.client)
            swarm_bench = SwarmBench.start(bench, stack)
            while pending:
                number = pending[0]
                scenario = SWARM_SCENARIOS[number]
                ok &= run_scenario(
                    report,
                    f"{number} swarm",
                    swarm_title(number),
                    partial(scenario, swarm_bench),
                )
                pending.pop(0)
    except (NotAvailable, docker.errors.DockerException, ValueError) as err:
        report.problems.append(f"swarm variants not run: {err}")
        for number in pending:
            report.checks.append(
                Check(f"{number} swarm", swarm_title(number), "—", "—", "—", "not run")
            )
        ok = False
    finally:
        report.swarm_elapsed_s = time.monotonic() - t0
    return ok


if __name__ == "__main__":
    sys.exit(main())
