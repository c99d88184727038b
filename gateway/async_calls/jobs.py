"""`JobRunner`: an async call of a job function (`com.faas.mode=job`), run in a fresh
container as a Swarm replicated job (docs/jobs.md).

The engine side is a `JobEngine` (the Swarm one is `gateway.providers.swarm.jobs`): it
creates the job service from the function's own service, reads its task, removes it.
The runner opens the call in the `JobExchange` (the container fetches its body and posts
its result there), waits for the result, the task's failure or the timeout, and always
removes the service. Its answer has the shape of a replica's (`CallResult`, or the
`GatewayError` that stood for one), so the consumer's retry and dead-letter path applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING

from gateway.async_calls.job_exchange import JobExchange, JobResult
from gateway.async_calls.messages import QueuedCall
from gateway.async_calls.metrics import ConsumerMetrics
from gateway.async_calls.presence import PRESENCE_SECONDS
from gateway.errors import GatewayError, UpstreamTimeout, UpstreamUnavailable
from gateway.labels import job_limits
from gateway.providers.base import Function
from gateway.providers.jobs import JobEngine, JobSpec, JobTask
from gateway.proxy.forwarder import CallResult

if TYPE_CHECKING:
    from gateway.async_calls.broker import Broker

log = logging.getLogger("gateway.async.jobs")

JOB_POLL_SECONDS = 1.0
"""How often a running job's task is read (to see a container that died without a result)."""
ORPHAN_CHECK_SECONDS = PRESENCE_SECONDS
"""How often job services of vanished queue workers are looked for (and at start)."""
JOB_TOTAL_CONCURRENCY = 32
"""Jobs one queue worker runs at once, all functions together (`GATEWAY_ASYNC_JOB_CONCURRENCY`)."""


class JobRunner:
    """Runs job calls, at most `com.faas.job.max_concurrent` per function and
    `total` in all; times them out; removes what a dead queue worker left."""

    def __init__(
        self,
        engine: JobEngine,
        exchange: JobExchange,
        metrics: ConsumerMetrics,
        job_url: str,
        worker_id: str,
        *,
        total: int = JOB_TOTAL_CONCURRENCY,
        poll_seconds: float = JOB_POLL_SECONDS,
    ) -> None:
        """`job_url`: where containers reach this worker's exchange (`http://host:port`)."""
        self._engine = engine
        self._exchange = exchange
        self._metrics = metrics
        self._job_url = job_url.rstrip("/")
        self._worker_id = worker_id
        self._total = total
        self._poll = poll_seconds
        self._running: Counter[str] = Counter()

    def reserve(self, function: Function) -> bool:
        """Take a place for a job of `function` if its bound and the total allow it now
        (False: the call stays queued). A place taken is given back by `release`."""
        limit, _ = job_limits(function.labels)
        if self._running[function.name] >= limit or sum(self._running.values()) >= self._total:
            return False
        self._running[function.name] += 1
        self._metrics.jobs_running.labels(function.name).inc()
        return True

    def release(self, function: Function) -> None:
        """Give back the place `reserve` took (after `run`, whose service is gone then)."""
        self._running[function.name] -= 1
        self._metrics.jobs_running.labels(function.name).dec()

    def running(self, name: str) -> int:
        """Jobs of `name` this worker runs now."""
        return self._running[name]

    async def remove_orphans(self, live_workers: set[str]) -> int:
        """Remove the job services of queue workers not in `live_workers` (nor this one),
        and this worker's own that run no call now; their calls are delivered again by
        JetStream. How many were removed."""
        removed = 0
        running = self._exchange.running()
        for job in await self._engine.jobs():
            mine = job.worker_id == self._worker_id
            if (mine and job.call_id not in running) or (
                not mine and job.worker_id not in live_workers
            ):
                log.info("removing orphan job %s (call %s)", job.service_id, job.call_id)
                await self._engine.remove(job.service_id)
                removed += 1
        return removed

    async def run(
        self, function: Function, call: QueuedCall
    ) -> tuple[CallResult | None, GatewayError | None]:
        """Run `call` as a job of `function` (in a place `reserve` took): its result, or
        the error that stood for one. Its service is removed before this returns."""
        _, timeout = job_limits(function.labels)
        opened = self._exchange.open(call.call_id, call.body)
        service_id = ""
        try:
            env = {
                "FAAS_JOB_URL": f"{self._job_url}/jobs/{call.call_id}",
                "FAAS_JOB_TOKEN": opened.token,
                "FAAS_JOB_MAX_OUTPUT": str(self._exchange.max_output),
                "Http_X_Call_Id": call.call_id,
                "Http_Method": call.method,
            }
            spec = JobSpec(function.name, call.call_id, self._worker_id, env)
            try:
                service_id = await self._engine.create(spec)
            except GatewayError as error:
                self._metrics.jobs_failed.labels(function.name, "start").inc()
                return None, error
            self._metrics.jobs_started.labels(function.name).inc()
            outcome = await self._wait(service_id, opened.result, timeout)
            if opened.started_at is not None:  # the cost of isolation: 202 to a container
                self._metrics.job_start_seconds.labels(function.name).observe(
                    max(0.0, opened.started_at - call.started_at)
                )
            reason = _reason(outcome)
            if reason is None:
                self._metrics.jobs_succeeded.labels(function.name).inc()
            else:
                self._metrics.jobs_failed.labels(function.name, reason).inc()
            return _answer(outcome, timeout, self._exchange.max_output)
        finally:
            self._exchange.close(call.call_id)
            if service_id:
                with contextlib.suppress(GatewayError):
                    await self._engine.remove(service_id)

    async def _wait(
        self,
        service_id: str,
        result: asyncio.Future[JobResult],
        seconds: float,
    ) -> JobResult | JobTask | None:
        """The posted result, the task that ended without one, or None on the timeout."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(result), min(self._poll, left))
            try:
                task = await self._engine.task(service_id)
            except GatewayError as error:
                log.debug("job %s: task not read: %s", service_id, error.message)
                continue
            if task is not None and (task.ended or task.state == "complete"):
                # A last chance for a result posted just before the container exited.
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(result), self._poll)
                return task


def _reason(outcome: JobResult | JobTask | None) -> str | None:
    """Why the job failed (the metrics' `reason`), None if it succeeded."""
    if outcome is None:
        return "timeout"
    if isinstance(outcome, JobTask):
        return "container"
    if outcome.outcome != "ok":
        return outcome.outcome
    return None if outcome.exit_code == 0 else "exit_code"


def _answer(
    outcome: JobResult | JobTask | None, timeout: float, max_output: int
) -> tuple[CallResult | None, GatewayError | None]:
    if outcome is None:
        return None, UpstreamTimeout(f"the job ran longer than its timeout ({timeout:g}s)")
    if isinstance(outcome, JobTask):
        code = f" (exit code {outcome.exit_code})" if outcome.exit_code is not None else ""
        why = f": {outcome.error}" if outcome.error else ""
        return None, UpstreamUnavailable(
            f"the job's container ended ({outcome.state}){code}{why} without a result"
        )
    headers = [
        (b"content-type", outcome.content_type.encode("latin-1")),
        (b"x-exit-code", str(outcome.exit_code).encode()),
        (b"x-duration-seconds", f"{outcome.duration:f}".encode()),
    ]
    if outcome.outcome == "output-too-large":
        text = f"the job wrote more than {max_output} bytes to stdout (its maximum)\n".encode()
        return CallResult(413, headers, text, len(text)), None
    if outcome.outcome != "ok":
        text = outcome.body or f"the job failed: {outcome.outcome}\n".encode()
        return CallResult(500, headers, text, len(text)), None
    status = 200 if outcome.exit_code == 0 else 500
    return CallResult(status, headers, outcome.body, len(outcome.body)), None


def job_url(port: int, host: str | None = None) -> str:
    """Where job containers reach this queue worker: its own host name (`JOB_HOST`: a
    Swarm task's container id, which Docker's DNS resolves on the networks it shares with
    the job, so the job reaches this replica and not another behind the service name)."""
    return f"http://{host or socket.gethostname()}:{port}"


async def keep_removing_orphans(jobs: JobRunner, broker: Broker, stop: asyncio.Event) -> None:
    """At start, then every `ORPHAN_CHECK_SECONDS`: remove the job services of queue workers
    no longer announced (a worker killed mid-job; its calls come back from JetStream)."""
    while not stop.is_set():
        wait = 1.0  # until the broker answers
        if broker.ready:
            try:
                await jobs.remove_orphans(await broker.presence.running_ids())
                wait = ORPHAN_CHECK_SECONDS
            except GatewayError as error:
                log.warning("orphan jobs not checked: %s", error.message)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
