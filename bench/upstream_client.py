"""The gateway's upstream client, aiohttp against `gateway.proxy.http1`, in the same run.

One echo upstream (bench/echo_server.py), one gateway per client (`GATEWAY_UPSTREAM_CLIENT`,
`GATEWAY_WORKERS=1` unless told otherwise), and the upstream direct; each round measures
every path at c=1 and c=64 in turn, so drift on a shared machine hits them alike. Prints
a Markdown table of medians over the rounds: c=1 req/s, p50 and p50 added over direct
(paired within a round), c=64 req/s.

    .venv/bin/python -m bench.upstream_client --rounds 5 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Iterable
from contextlib import ExitStack

from bench.processes import start_echo, start_gateway, workdir
from bench.scenarios import BODY, touch
from bench.wrk import WrkResult, ensure_wrk, run_wrk

CLIENTS = ("aiohttp", "http1")
DIRECT = "direct"


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    wrk = ensure_wrk()
    load_before = _load()
    tmp = workdir()
    results: dict[tuple[str, int], list[WrkResult]] = {}
    with ExitStack() as stack:
        echo = stack.enter_context(start_echo(tmp))
        urls = {DIRECT: f"http://127.0.0.1:{echo.port}/"}
        for client in CLIENTS:
            gateway = stack.enter_context(
                start_gateway(
                    tmp,
                    {"echo": f"127.0.0.1:{echo.port}"},
                    name=f"gateway {client}",
                    workers=args.workers,
                    extra_env={"GATEWAY_UPSTREAM_CLIENT": client},
                )
            )
            urls[client] = f"{gateway.base_url}/function/echo"
        for url in urls.values():
            touch(url)
        for round_number in range(args.rounds):
            for concurrency in (1, 64):
                for label, url in urls.items():
                    result = run_wrk(
                        wrk, url, concurrency=concurrency, duration_s=args.seconds, body=BODY
                    )
                    results.setdefault((label, concurrency), []).append(result)
                    print(
                        f"round {round_number + 1} c={concurrency} {label}: "
                        f"{result.rps:,.0f} req/s p50 {result.p50_ms:.3f} ms "
                        f"errors {result.errors + result.non_2xx}",
                        flush=True,
                    )
    print(f"\nload average before: {load_before}, after: {_load()}")
    print(f"{args.rounds} rounds of {args.seconds:g} s, GATEWAY_WORKERS={args.workers}\n")
    print("| path | c=1 req/s | c=1 p50 | c=1 p50 added over direct | c=64 req/s |")
    print("|---|---|---|---|---|")
    direct = results[(DIRECT, 1)]
    for label in (DIRECT, *CLIENTS):
        one, many = results[(label, 1)], results[(label, 64)]
        added = "—"
        if label != DIRECT:
            paired = [r.p50_ms - d.p50_ms for r, d in zip(one, direct, strict=True)]
            added = f"+{statistics.median(paired):.2f} ms"
        print(
            f"| {label} | {_median(r.rps for r in one):,.0f} | "
            f"{_median(r.p50_ms for r in one):.2f} ms | {added} | "
            f"{_median(r.rps for r in many):,.0f} |"
        )


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
