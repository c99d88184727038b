"""`python -m bench` (`make bench`): run the scenarios, print the tables, write the JSON.

    python -m bench                 # full run: 5 interleaved rounds of 3 s per case
    python -m bench --quick         # 1 round of 1 s per case, no warm-up (a smoke run)
    python -m bench --only 1,3      # some scenarios only
    python -m bench --update-docs   # also put the table into docs/benchmarks.md
    python -m bench --swarm         # swarm variants of 3-5: not implemented yet

Exit status 0 when every selected scenario ran (a missed target is a finding, not a
failure), 1 when one could not run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import floor
from bench.processes import ROOT, NotAvailable, workdir
from bench.report import Check, Report, load_average, machine_description, update_doc
from bench.scenarios import SCENARIOS, Bench, Settings
from bench.wrk import ensure_wrk, wrk_version

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
    parser.add_argument("--only", default="", help="comma-separated scenario numbers (1-5)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (whole)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (median)")
    parser.add_argument(
        "--swarm", action="store_true", help="also the swarm variants of 3-5 (not implemented yet)"
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
        print(f"bench: unknown scenario(s) {', '.join(unknown)}; known: 1-5", file=sys.stderr)
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
            print(f"bench: scenario {number}, {title}", file=sys.stderr, flush=True)
            try:
                scenario(bench)
            except NotAvailable as err:
                failed = True
                report.problems.append(f"{number} ({title}) not run: {err}")
                report.checks.append(Check(number, title, "—", "—", "—", "not run"))
            except Exception as err:
                failed = True
                traceback.print_exc()
                report.problems.append(f"{number} ({title}) failed: {err}")
                report.checks.append(Check(number, title, "—", "—", "—", "not run"))
        if args.swarm:
            for number in ("3", "4", "5"):
                report.checks.append(
                    Check(
                        f"{number} swarm",
                        f"{SCENARIOS[number][0]} on the real swarm",
                        "—",
                        "—",
                        "—",
                        "not run",
                    )
                )
            report.problems.append("--swarm: the swarm variants of 3-5 are not implemented yet")
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


if __name__ == "__main__":
    sys.exit(main())
