"""Scenario 8: async calls (docs/async.md) against the same function called synchronously.

One gateway (static provider) in front of the echo upstream, with a local nats-server.
Each round measures, in this order:

- sync calls through the gateway (wrk, c=16 and c=64);
- enqueue: `POST /async-function/echo` with wrk at c=64 while no queue worker runs, so
  the rate is the gateway and JetStream alone (202s per second);
- drain: a fresh queue worker (`python -m gateway.async_calls`) runs what that enqueue
  accepted; its rate is the calls it completed per second, counted from its
  `gateway_async_completed` series between its first and last poll (its start-up is
  not in it). The worker runs `WORKER_CONCURRENCY` calls at once, so its reference is
  sync at that concurrency.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from bench.processes import Server, start_echo, start_gateway, start_nats, start_queue_worker
from bench.report import Run
from bench.scenarios import (
    BODY,
    Bench,
    Case,
    Sample,
    added_ms,
    check,
    cpu_percent,
    cpu_snapshot,
    key,
    measure,
    ms,
    rate_ratio,
    touch,
    wrk_case,
)
from bench.wrk import run_wrk

FUNCTION = "echo"
WORKER_CONCURRENCY = 16
"""GATEWAY_ASYNC_CONCURRENCY of the bench's worker (the default)."""
ENQUEUE_CONCURRENCY = 64
COMPLETED_SERIES = "gateway_async_completed_total"
POLL_SECONDS = 0.02
STALL_SECONDS = 30.0
"""A drain that completes nothing for this long is given up (and reported)."""

SYNC_LABEL = "sync call via gateway (echo)"
ENQUEUE_LABEL = "async enqueue via gateway (202s)"
DRAIN_LABEL = "async drain: queue worker completions"


def completed_calls(metrics: str, function: str) -> tuple[int, int]:
    """From a queue worker's /metrics text: the calls of `function` it completed, and how
    many of those ended with a status other than 200 (all codes, 0 for no answer)."""
    total = failed = 0
    for line in metrics.splitlines():
        if not line.startswith(COMPLETED_SERIES + "{"):
            continue
        labels, _, value = line.rpartition(" ")
        if f'function_name="{function}"' not in labels:
            continue
        count = int(float(value))
        total += count
        if 'code="200"' not in labels:
            failed += count
    return total, failed


@dataclass(frozen=True)
class Drain:
    """What one drain measured: completions between the first and the last poll."""

    calls: int
    seconds: float
    failed: int

    @property
    def rate(self) -> float:
        """Calls completed per second (0 when nothing was timed)."""
        return self.calls / self.seconds if self.seconds > 0 else 0.0


def drain_rate(polls: Sequence[tuple[float, int]], target: int) -> Drain:
    """The drain from `(monotonic time, completed so far)` polls: from the first poll to
    the first one that reached `target` (or the last poll, when none did)."""
    if not polls:
        return Drain(0, 0.0, 0)
    t0, c0 = polls[0]
    end = next(((t, c) for t, c in polls if c >= target), polls[-1])
    return Drain(end[1] - c0, end[0] - t0, 0)


def metrics_text(server: Server) -> str:
    """The server's /metrics ("" when it does not answer)."""
    try:
        with urllib.request.urlopen(server.base_url + "/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text
    except (OSError, urllib.error.URLError):
        return ""


@dataclass
class Queue:
    """The state the enqueue case hands to the drain case of the same round."""

    accepted: int = 0


def enqueue_case(b: Bench, gateway: Server, nats: Server, queue: Queue) -> Case:
    """wrk on /async-function/echo; counts the 202s into `queue` for the drain."""
    url = f"{gateway.base_url}/async-function/{FUNCTION}"
    servers = [gateway, nats]

    def run(duration: float) -> Sample:
        before = cpu_snapshot(servers)
        start = time.monotonic()
        result = run_wrk(
            b.wrk, url, concurrency=ENQUEUE_CONCURRENCY, duration_s=duration, body=BODY
        )
        wall = time.monotonic() - start
        cpu = cpu_percent(before, cpu_snapshot(servers), wall)
        cpu["wrk"] = result.client_cpu_s / wall * 100
        queue.accepted += result.requests - result.non_2xx
        return Sample(result.rps, result.p50_ms, result.p99_ms, result.errors, cpu)

    return Case(ENQUEUE_LABEL, ENQUEUE_CONCURRENCY, run)


def drain_case(b: Bench, gateway: Server, nats: Server, echo: Server, queue: Queue) -> Case:
    """Start a queue worker, let it run what is queued, stop it; its completions/s."""

    def run(duration: float) -> Sample:
        target, queue.accepted = queue.accepted, 0
        with start_queue_worker(b.tmp, gateway.env) as worker:
            drained, cpu = watch_drain(worker, [worker, nats, echo, gateway], target)
        return Sample(drained.rate, math.nan, math.nan, drained.failed, cpu)

    return Case(DRAIN_LABEL, WORKER_CONCURRENCY, run)


def watch_drain(
    worker: Server, servers: Sequence[Server], target: int
) -> tuple[Drain, dict[str, float]]:
    """Poll the worker's completions until `target` (or a stall); the drain and the CPU
    use of `servers` over it."""
    polls: list[tuple[float, int]] = []
    before = cpu_snapshot(servers)
    failed = 0
    last_progress = time.monotonic()
    while True:
        done, failed = completed_calls(metrics_text(worker), FUNCTION)
        now = time.monotonic()
        if polls and done > polls[-1][1]:
            last_progress = now
        polls.append((now, done))
        if done >= target or now - last_progress > STALL_SECONDS:
            break
        time.sleep(POLL_SECONDS)
    after = cpu_snapshot(servers)
    drained = drain_rate(polls, target)
    return Drain(drained.calls, drained.seconds, failed), cpu_percent(
        before, after, polls[-1][0] - polls[0][0]
    )


def warm_up(b: Bench, gateway: Server, calls: int = 20) -> None:
    """Sync calls, then async ones once the gateway's broker connection takes them (it
    connects in the background), drained by a first worker: every path is warm and the
    queue is empty before the rounds."""
    touch(f"{gateway.base_url}/function/{FUNCTION}")
    url = f"{gateway.base_url}/async-function/{FUNCTION}"
    deadline = time.monotonic() + 20
    accepted = 0
    while accepted < calls:
        request = urllib.request.Request(url, data=BODY, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                accepted += 1
        except urllib.error.HTTPError as err:
            if err.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with start_queue_worker(b.tmp, gateway.env) as worker:
        watch_drain(worker, [worker], accepted)


def async_calls(b: Bench) -> None:
    """Scenario 8: enqueue rate and drain throughput vs sync calls of the same function."""
    sc = "8"
    with ExitStack() as stack:
        echo = stack.enter_context(start_echo(b.tmp))
        nats, nats_port = start_nats(b.tmp)
        stack.enter_context(nats)
        gateway = stack.enter_context(
            start_gateway(
                b.tmp,
                {FUNCTION: f"127.0.0.1:{echo.port}"},
                extra_env={
                    "GATEWAY_NATS_URL": f"nats://127.0.0.1:{nats_port}",
                    "GATEWAY_ASYNC_CONCURRENCY": str(WORKER_CONCURRENCY),
                },
            )
        )
        warm_up(b, gateway)
        queue = Queue()
        sync_url = f"{gateway.base_url}/function/{FUNCTION}"
        cases = [
            wrk_case(b, SYNC_LABEL, sync_url, c, [gateway, echo])
            for c in sorted({WORKER_CONCURRENCY, ENQUEUE_CONCURRENCY})
        ]
        cases.append(enqueue_case(b, gateway, nats, queue))
        cases.append(drain_case(b, gateway, nats, echo, queue))
        runs = measure(b, sc, cases)
    drain = runs[key(DRAIN_LABEL, WORKER_CONCURRENCY)]
    no_latency(drain)
    drain.note = "calls completed per second; one fresh worker per round"
    async_checks(b, sc, runs)


def no_latency(run: Run) -> None:
    """A drain has a rate only: no latencies in the table."""
    run.p50_ms = run.p99_ms = None
    run.samples_p50_ms, run.samples_p99_ms = [], []


def async_checks(b: Bench, sc: str, runs: dict[str, Run]) -> None:
    """Enqueue against sync at c=64, drain against sync at the worker's concurrency."""
    enqueue = runs[key(ENQUEUE_LABEL, ENQUEUE_CONCURRENCY)]
    sync_enqueue = runs[key(SYNC_LABEL, ENQUEUE_CONCURRENCY)]
    drain = runs[key(DRAIN_LABEL, WORKER_CONCURRENCY)]
    sync_drain = runs[key(SYNC_LABEL, WORKER_CONCURRENCY)]
    check(
        b,
        sc,
        f"async enqueue c={ENQUEUE_CONCURRENCY}: 202s/s vs sync calls (p50)",
        f"{enqueue.rps or 0:,.0f} 202s/s = {rate_ratio(enqueue, sync_enqueue):.0f}% "
        f"(p50 {added_ms(enqueue, sync_enqueue):+.2f} ms)",
        f"sync {sync_enqueue.rps or 0:,.0f} req/s, p50 {ms(sync_enqueue.p50_ms):.2f} ms",
        "—",
        None,
    )
    check(
        b,
        sc,
        f"async drain, {WORKER_CONCURRENCY} at once: calls/s vs sync calls c={WORKER_CONCURRENCY}",
        f"{drain.rps or 0:,.0f} calls/s = {rate_ratio(drain, sync_drain):.0f}%",
        f"sync {sync_drain.rps or 0:,.0f} req/s",
        "—",
        None,
    )
