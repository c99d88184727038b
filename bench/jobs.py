"""Scenario 8 on the swarm: a job's call (docs/jobs.md) against an ordinary async call of
the same work, enqueue → start → result.

Two extra functions are made from the stack's `sha256job` image, with the same
environment: `bench-jobref`, an ordinary function with one replica (the watchdog forks
the handler per call), and `bench-job`, a job function (`com.faas.mode=job`: each call
runs in a fresh container, a Swarm replicated job). The handler first prints the moment
it started (`date +%s.%N`), then hashes the body (`ROUNDS` rounds: a few milliseconds).
Every call goes through the front (`POST /async-function/<name>`), and its status
record gives the rest:

- enqueue → start: the handler's first line minus the record's `queuedAt` (the
  gateway's clock and the container's are the host's);
- enqueue → result: the record's `durationSeconds` (from the 202 to the result stored).

Each round runs `CALLS_PER_ROUND` calls one after another to each function, alternating,
then a burst of `BURST` calls at once to each (calls/s from the first 202 to the last
result). Medians over the rounds; the difference of the starts is the cost of isolation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx

from bench.fleet import Fleet, FunctionTemplate, service_definition, template_from_spec
from bench.processes import NotAvailable
from bench.report import Run
from bench.scenarios import check, progress
from bench.swarm import SwarmBench
from bench.triggers import percentile
from tests.support import ROOT

SC = "8 swarm"
JOB = "bench-job"
REPLICA = "bench-jobref"
JOB_LABELS = {"com.faas.mode": "job", "com.faas.job.max_concurrent": "8"}
WORK_ROUNDS = 20_000
"""The handler's hashing rounds: milliseconds of work, so the path's cost shows."""
FPROCESS = "sh -c 'date +%s.%N; exec python3 handler.py'"
ROUNDS = 3
CALLS_PER_ROUND = 5
BURST = 8
CALL_TIMEOUT = 180.0
"""A call whose result is not stored this long after its 202 fails the scenario."""
POLL_SECONDS = 0.05
ENDED = ("succeeded", "failed")


@dataclass(frozen=True)
class Timing:
    """One call's times, in seconds from its 202."""

    start_s: float
    result_s: float


def timing(record: dict[str, object]) -> Timing:
    """A succeeded call's times, from its status record (see the module docstring)."""
    body = str(record.get("body") or "")
    try:
        started = float(body.split()[0])
        return Timing(started - float(str(record["queuedAt"])),
                      float(str(record["durationSeconds"])))  # fmt: skip
    except (IndexError, KeyError, ValueError):
        raise NotAvailable(f"a call's record has no start time: {record!r:.300}") from None


class AsyncCaller:
    """Queues calls through the front and waits for their status records."""

    def __init__(self, base_url: str) -> None:
        secrets = ROOT / "secrets"
        auth = (
            (secrets / "basic-auth-user").read_text().strip(),
            (secrets / "basic-auth-password").read_text().strip(),
        )
        self.client = httpx.Client(base_url=base_url, auth=auth, timeout=30.0)

    def known(self, name: str) -> bool:
        """Whether the gateway lists `name` as a function."""
        return self.client.get(f"/system/function/{name}").status_code == 200

    def enqueue(self, name: str) -> str:
        """Queue one call of `name`; its id."""
        reply = self.client.post(f"/async-function/{name}", content=b"bench job input")
        if reply.status_code != 202:
            raise NotAvailable(f"{name}: /async-function answered {reply.status_code}: "
                               f"{reply.text[:200]}")  # fmt: skip
        return reply.headers["X-Call-Id"]

    def result(self, call_id: str) -> Timing:
        """Wait for the call's result; its times (NotAvailable if it failed or stalled)."""
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            reply = self.client.get(f"/system/async/{call_id}")
            if reply.status_code == 200:
                record = reply.json()
                if record.get("state") == "succeeded":
                    return timing(record)
                if record.get("state") in ENDED:
                    raise NotAvailable(f"call {call_id} failed: {record!r:.300}")
            time.sleep(POLL_SECONDS)
        raise NotAvailable(f"call {call_id} had no result {CALL_TIMEOUT:g} s after its 202")

    def one(self, name: str) -> Timing:
        """One call of `name`, waited for."""
        return self.result(self.enqueue(name))

    def burst(self, name: str, count: int) -> tuple[list[Timing], float]:
        """`count` calls of `name` queued at once; their times and the calls per second
        from the first 202 to the last result."""
        started = time.monotonic()
        ids = [self.enqueue(name) for _ in range(count)]
        with ThreadPoolExecutor(max_workers=count) as pool:
            timings = list(pool.map(self.result, ids))
        return timings, count / (time.monotonic() - started)


def wait_until(done: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `done` every half second; NotAvailable after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            raise NotAvailable(f"{what} within {timeout:g} s")
        time.sleep(0.5)


def bench_template(template: FunctionTemplate) -> FunctionTemplate:
    """The stack's job image with the bench's handler command and work."""
    kept = tuple(e for e in template.env if not e.startswith(("fprocess=", "ROUNDS=")))
    return replace(template, env=(*kept, f"fprocess={FPROCESS}", f"ROUNDS={WORK_ROUNDS}"))


def jobs_swarm(sb: SwarmBench) -> None:
    """Scenario 8 on the swarm (see the module docstring)."""
    stack, config = sb.stack, sb.stack.config
    template = bench_template(
        template_from_spec(stack.service_spec(config.service_name("sha256job")))
    )
    fleet = Fleet(stack.client, config.network, template)
    caller = AsyncCaller(config.host_url)
    with fleet.deployed():
        fleet.remove_all()
        fleet.create([REPLICA], replicas=1)
        job = service_definition(JOB, template, config.network, 0)
        job["labels"].update(JOB_LABELS)
        stack.client.api.create_service(**job)  # type: ignore[no-untyped-call]
        wait_until(lambda: caller.known(JOB) and caller.known(REPLICA),
                   "the gateway did not list the bench's two functions", 60)  # fmt: skip
        wait_until(lambda: caller.client.post(f"/function/{REPLICA}", content=b"x").is_success,
                   f"{REPLICA} did not answer", 120)  # fmt: skip
        progress(f"  [{SC}] {ROUNDS} rounds: {CALLS_PER_ROUND} calls one by one, then "
                 f"{BURST} at once, to {REPLICA} (a replica) and {JOB} (a job)")  # fmt: skip
        caller.one(JOB)  # the nodes have the image; the first job pays nothing extra
        singles: dict[str, list[list[Timing]]] = {REPLICA: [], JOB: []}
        bursts: dict[str, list[tuple[list[Timing], float]]] = {REPLICA: [], JOB: []}
        for _ in range(ROUNDS):
            for name in (REPLICA, JOB):
                singles[name].append([caller.one(name) for _ in range(CALLS_PER_ROUND)])
            for name in (REPLICA, JOB):
                bursts[name].append(caller.burst(name, BURST))
    report(sb, singles, bursts)


def _ms(values: Sequence[float], fraction: float) -> float:
    return percentile(list(values), fraction) * 1000


def report(
    sb: SwarmBench,
    singles: dict[str, list[list[Timing]]],
    bursts: dict[str, list[tuple[list[Timing], float]]],
) -> None:
    """The runs (medians over the rounds of each round's p50/p99) and the checks."""
    b = sb.bench
    kinds = {REPLICA: "ordinary async call (one replica)", JOB: "job (a fresh container)"}
    start_p50: dict[str, float] = {}
    for name, kind in kinds.items():
        for what, pick in (("enqueue → start", "start_s"), ("enqueue → result", "result_s")):
            rounds = [[getattr(t, pick) for t in r] for r in singles[name]]
            p50s = [_ms(r, 0.5) for r in rounds]
            p99s = [_ms(r, 0.99) for r in rounds]
            if pick == "start_s":
                start_p50[name] = statistics.median(p50s)
            b.report.runs.append(Run(SC, f"{kind}: {what}, one by one", 1, None,
                                     statistics.median(p50s), statistics.median(p99s),
                                     rounds=len(rounds), samples_p50_ms=p50s,
                                     samples_p99_ms=p99s))  # fmt: skip
        rates = [rate for _, rate in bursts[name]]
        results = [[t.result_s for t in timings] for timings, _ in bursts[name]]
        b.report.runs.append(Run(SC, f"{kind}: {BURST} at once, enqueue → result", BURST,
                                 statistics.median(rates),
                                 statistics.median(_ms(r, 0.5) for r in results),
                                 statistics.median(_ms(r, 0.99) for r in results),
                                 rounds=len(rates), samples_rps=rates))  # fmt: skip
    isolation = start_p50[JOB] - start_p50[REPLICA]
    check(b, SC, "the cost of isolation: a job's enqueue → start minus an ordinary async "
          "call's (p50, one by one)", f"{isolation:.0f} ms", f"{start_p50[REPLICA]:.0f} ms "
          "(ordinary)", "—", None)  # fmt: skip


SWARM_SCENARIOS: dict[str, Callable[[SwarmBench], None]] = {"8": jobs_swarm}
