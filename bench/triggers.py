"""`python -m bench.triggers`: the cron scheduler with many schedules (issue 32's target).

    python -m bench.triggers                        # 1,000 schedules every 10 s, for 60 s
    python -m bench.triggers --functions 200 --seconds 20 --schedule '* * * * * *'

Starts a nats-server (JetStream, a temporary store, a free port), runs `CronScheduler` in
this process over that many static functions, each with one schedule, queuing every tick
as an async call (nothing consumes them: the calls stream is purged at the end), and
prints: ticks fired, the scheduler's CPU per minute of wall time and its peak memory (this
process: the scheduler, the NATS client and the parsed schedules), and the lag from each
tick's scheduled moment to its call stored (p50, p99, max). Target: p99 < 100 ms. Not
part of `make test` (it takes a minute and a core).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.async_calls.broker import Broker
from gateway.config import AsyncConfig
from gateway.errors import GatewayError
from gateway.providers.base import Function, NoLease
from gateway.triggers.firing import Firing, FiringQueue
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.scheduler import CronScheduler

LAG_TARGET = 0.100


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def run(functions: int, seconds: float, schedule: str, port: int) -> int:
    config = AsyncConfig(nats_url=f"nats://127.0.0.1:{port}", function_max_calls=100_000)
    broker = Broker(config, name="bench-triggers")
    await broker.start()
    if not await broker.wait_ready(10):
        print(f"no broker: {broker.problem}", file=sys.stderr)
        return 1
    listed = [
        Function(f"f{n}", "bench/f", 1, "127.0.0.1:9",
                 labels={"com.faas.trigger.t.schedule": schedule})
        for n in range(functions)
    ]  # fmt: skip
    lags: list[float] = []
    by_tick: dict[float, float] = {}  # each tick's lag, to its last call stored
    queue = FiringQueue(broker, config)

    async def fire(firing: Firing) -> object:
        return (await fire_many([firing]))[0]

    async def fire_many(firings: Sequence[Firing]) -> list[object]:
        outcomes: list[object] = list(await queue.queue(firings))
        stored = time.time()
        for firing, outcome in zip(firings, outcomes, strict=True):
            if not isinstance(outcome, GatewayError):
                scheduled = float(dict(firing.headers)["X-Scheduled-Time"])
                lags.append(stored - scheduled)
                by_tick[scheduled] = max(by_tick.get(scheduled, 0.0), stored - scheduled)
        return outcomes

    # No grace: only the ticks of the run are measured (not a start-up catch-up).
    scheduler = CronScheduler(
        lambda: listed,
        fire,
        NoLease(),
        TriggerMetrics(),
        grace=0.0,
        fire_many=fire_many,
        prepare=queue.prepare,
    )
    stop = asyncio.Event()
    cpu_before = time.process_time()
    started = time.monotonic()
    running = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await running
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    js = broker.jetstream()
    await js.purge_stream("FAAS_ASYNC_CALLS")
    await broker.close()
    p99 = percentile(lags, 0.99)
    print(f"schedules: {functions} x {schedule!r} for {wall:.0f} s: {len(lags)} ticks queued")
    print(
        f"scheduler CPU: {cpu / wall * 60:.1f} s per minute; peak memory {peak_kib / 1024:.0f} MiB"
    )
    print(
        f"lag, scheduled moment to call stored: p50 {percentile(lags, 0.5) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {max(lags, default=0.0) * 1000:.1f} ms "
        f"(target p99 < {LAG_TARGET * 1000:.0f} ms: {'met' if p99 < LAG_TARGET else 'missed'})"
    )
    ticks = ", ".join(f"{lag * 1000:.0f}" for _, lag in sorted(by_tick.items()))
    print(f"each tick's lag to its last call stored (ms): {ticks}")
    return 0


def main() -> int:
    """Parse the options, start nats-server, run, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.triggers", description=__doc__)
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--schedule", default="*/10 * * * * *")
    args = parser.parse_args()
    binary = shutil.which("nats-server")
    if binary is None:
        print("nats-server is not installed (scripts/nats.sh installs it)", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen(
            [binary, "-js", "-sd", str(Path(store)), "-a", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return asyncio.run(run(args.functions, args.seconds, args.schedule, port))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
