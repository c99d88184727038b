"""Job functions' calls through the queue consumer (docs/jobs.md), on a real nats-server.

The engine is `ProcessJobs`: each "job service" is the real watchdog zipapp started in job
mode (what a job's container runs), so the body, result, exit code and token go over the
real exchange on the consumer's monitoring port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType

import httpx
import pytest

from gateway.async_calls.__main__ import run_consumer
from gateway.async_calls.jobs import job_url
from gateway.config import GatewayConfig
from gateway.providers.base import Function
from gateway.providers.jobs import JobService, JobSpec, JobTask
from gateway.providers.static import StaticProvider
from tests import support
from tests.gateway.async_calls.harness import function
from tests.gateway.async_calls.test_async_calls import enqueue, wait_for_state
from tests.gateway.harness import GatewayThread
from tests.support import free_port, wait_for

FAST = {"com.faas.retry.min_wait": "50ms", "com.faas.retry.max_wait": "200ms"}
FPROCESS = {
    "upper": "tr a-z A-Z",
    "failing": "sh -c 'echo no; exit 3'",
    "slow": "sleep 60",
    "serial": "sh -c 'sleep 0.5; cat'",
    "chatty": "head -c 3000000 /dev/zero",
    "crashing": "sh -c 'kill -9 $PPID'",  # the container's main process dies: no result
}


class ProcessJobs:
    """A `JobEngine` whose jobs are watchdog processes on this machine."""

    def __init__(self, fprocess: Mapping[str, str]) -> None:
        self.fprocess = fprocess
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.specs: list[JobSpec] = []
        self.removed: list[str] = []
        self.orphans: list[JobService] = []
        self.most_at_once = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def create(self, spec: JobSpec) -> str:
        env = {"PATH": os.environ["PATH"], "fprocess": self.fprocess[spec.function], **spec.env}
        process = subprocess.Popen(  # noqa: ASYNC220 (a test's engine: a quick fork)
            [sys.executable, str(support.watchdog_zipapp())],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with self._lock:
            service_id = f"job{next(self._ids)}"
            self.specs.append(spec)
            self.processes[service_id] = process
            alive = sum(p.poll() is None for p in self.processes.values())
            self.most_at_once = max(self.most_at_once, alive)
        return service_id

    async def task(self, service_id: str) -> JobTask | None:
        process = self.processes[service_id]
        code = process.poll()
        if code is None:
            return JobTask("running")
        return JobTask("complete" if code == 0 else "failed", exit_code=code)

    async def remove(self, service_id: str) -> None:
        self.removed.append(service_id)
        process = self.processes.pop(service_id, None)
        if process is None:
            self.orphans = [job for job in self.orphans if job.service_id != service_id]
            return
        process.kill()
        process.wait()

    async def jobs(self) -> Sequence[JobService]:
        return list(self.orphans)


class JobConsumer:
    """`run_consumer` with `ProcessJobs` on its own loop in a background thread."""

    def __init__(self, config: GatewayConfig, functions: Sequence[Function], engine: ProcessJobs):
        port = free_port()
        self.config = dataclasses.replace(
            config,
            provider="static",
            static_functions=tuple(functions),
            async_calls=dataclasses.replace(config.async_calls, consumer_port=port),
        )
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._started.set()
            await run_consumer(self.config, self._stop, self.engine)

        self._loop.run_until_complete(main())

    def __enter__(self) -> JobConsumer:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)

    def metrics(self) -> str:
        port = self.config.async_calls.consumer_port
        return httpx.get(f"http://127.0.0.1:{port}/metrics").text


def job(name: str, **labels: str) -> Function:
    fn = function(name, 1, {"com.faas.mode": "job", **FAST, **labels})
    return dataclasses.replace(fn, replicas=0)


@pytest.fixture
def provider() -> StaticProvider:
    return StaticProvider(
        [
            job("upper"),
            job("failing", **{"com.faas.retry.attempts": "2"}),
            job("slow", **{"com.faas.job.timeout": "1s", "com.faas.retry.attempts": "1"}),
            job("serial", **{"com.faas.job.max_concurrent": "1"}),
            job("chatty", **{"com.faas.retry.attempts": "1"}),
            job("crashing", **{"com.faas.retry.attempts": "2"}),
        ]
    )


@pytest.fixture
def engine() -> Iterator[ProcessJobs]:
    jobs = ProcessJobs(FPROCESS)
    yield jobs
    for process in jobs.processes.values():
        process.kill()


@pytest.fixture
def jobs(
    gateway: GatewayThread, provider: StaticProvider, engine: ProcessJobs
) -> Iterator[JobConsumer]:
    with JobConsumer(gateway.config, provider.functions(), engine) as running:
        yield running


def test_a_job_gets_the_body_and_its_stdout_is_the_result(
    gateway: GatewayThread, jobs: JobConsumer, engine: ProcessJobs
) -> None:
    call_id = enqueue(gateway, "/async-function/upper", b"hello job").headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "succeeded")
    assert (record["status"], record["body"], record["attempt"]) == (200, "HELLO JOB", 1)
    [spec] = engine.specs
    assert (spec.function, spec.call_id) == ("upper", call_id)
    assert spec.env["FAAS_JOB_URL"].endswith(f"/jobs/{call_id}")
    assert spec.env["Http_X_Call_Id"] == call_id
    assert len(spec.env["FAAS_JOB_TOKEN"]) >= 32
    assert engine.removed == ["job1"]  # removed once finished
    text = jobs.metrics()
    assert 'gateway_async_jobs_started_total{function_name="upper"} 1.0' in text
    assert 'gateway_async_jobs_succeeded_total{function_name="upper"} 1.0' in text
    assert 'gateway_async_job_start_seconds_count{function_name="upper"} 1.0' in text


def failed_call(gateway: GatewayThread, name: str) -> dict[str, object]:
    """Queue a call to `name` and wait for it to fail: its status record."""
    call_id = enqueue(gateway, f"/async-function/{name}").headers["X-Call-Id"]
    return wait_for_state(gateway, call_id, "failed")


def test_a_failing_exit_code_is_retried_then_dead_lettered(
    gateway: GatewayThread, jobs: JobConsumer, engine: ProcessJobs
) -> None:
    record = failed_call(gateway, "failing")
    assert (record["status"], record["attempt"], record["deadLettered"]) == (500, 2, True)
    assert record["body"] == "no\n"
    assert len(engine.specs) == 2  # a fresh container per attempt
    assert sorted(engine.removed) == ["job1", "job2"]
    assert 'reason="exit_code"} 2.0' in jobs.metrics()


def test_a_job_over_its_timeout_is_removed_and_the_call_fails_as_timed_out(
    gateway: GatewayThread, jobs: JobConsumer, engine: ProcessJobs
) -> None:
    record = failed_call(gateway, "slow")
    assert record["status"] == 504
    assert "longer than its timeout (1s)" in str(record["error"])
    assert engine.removed == ["job1"]
    assert engine.processes == {}  # killed
    assert 'reason="timeout"} 1.0' in jobs.metrics()


def test_output_over_the_maximum_fails_the_call_with_413(
    gateway: GatewayThread, jobs: JobConsumer
) -> None:
    record = failed_call(gateway, "chatty")
    assert record["status"] == 413
    assert "more than 1048576 bytes" in str(record["body"])


def test_a_container_that_dies_without_a_result_is_retried_then_fails_saying_so(
    gateway: GatewayThread, jobs: JobConsumer, engine: ProcessJobs
) -> None:
    record = failed_call(gateway, "crashing")
    assert (record["status"], record["attempt"], record["deadLettered"]) == (502, 2, True)
    assert "the job's container ended (failed) (exit code -9)" in str(record["error"])
    assert len(engine.specs) == 2
    assert 'reason="container"} 2.0' in jobs.metrics()


def test_jobs_over_the_function_bound_stay_queued_and_all_run(
    gateway: GatewayThread, jobs: JobConsumer, engine: ProcessJobs
) -> None:
    ids = [
        enqueue(gateway, "/async-function/serial", f"call {n}".encode()).headers["X-Call-Id"]
        for n in range(3)
    ]
    bodies = [wait_for_state(gateway, call_id, "succeeded")["body"] for call_id in ids]
    assert bodies == ["call 0", "call 1", "call 2"]
    assert engine.most_at_once == 1
    assert len(engine.specs) == 3


def test_orphans_of_vanished_workers_are_removed_at_start(
    gateway: GatewayThread, provider: StaticProvider, engine: ProcessJobs
) -> None:
    engine.orphans = [JobService("orphan1", "call-x", "a-worker-that-died")]
    with JobConsumer(gateway.config, provider.functions(), engine):
        wait_for(lambda: engine.orphans == [], "the orphan to be removed", timeout=30)
    assert engine.removed == ["orphan1"]


def test_the_job_url_names_this_host() -> None:
    assert job_url(8081, "abc123") == "http://abc123:8081"
