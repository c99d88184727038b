"""`JobExchange`: how a job's container gets its call's body and gives back its result.

The queue worker serves `GET /jobs/<call-id>/input` and `POST /jobs/<call-id>/result` on
its monitoring port (`monitoring.py`), on the functions network; the watchdog in job mode
calls them (`fwatchdog/job.py`). Each job has a random token, shown in `X-Job-Token`,
compared in constant time, good for one input and one result. The HTTP server runs in a
thread: the result reaches the job's waiter on the event loop by `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

JOB_MAX_OUTPUT = 1024 * 1024
"""The most stdout a job may give back (bytes): the watchdog stops a job that writes
more (`FAAS_JOB_MAX_OUTPUT`), and the exchange refuses a larger result (413)."""
TOKEN_HEADER = "X-Job-Token"


@dataclass
class JobResult:
    """What a job's watchdog posted: its exit code, stdout, duration and outcome."""

    exit_code: int
    body: bytes
    duration: float
    outcome: str
    content_type: str = "application/octet-stream"


@dataclass
class OpenJob:
    """A job the exchange serves: its token, its body, and the future of its result."""

    token: str
    body: bytes
    loop: asyncio.AbstractEventLoop
    result: asyncio.Future[JobResult]
    started_at: float | None = None
    """When its container fetched the input (Unix seconds), once it has."""


class JobExchange:
    """The jobs this queue worker runs now, by call id, and their tokens."""

    def __init__(self, max_output: int = JOB_MAX_OUTPUT) -> None:
        self.max_output = max_output
        self._jobs: dict[str, OpenJob] = {}
        self._lock = threading.Lock()

    def open(self, call_id: str, body: bytes) -> OpenJob:
        """Register a job for `call_id`, with a new token."""
        loop = asyncio.get_running_loop()
        job = OpenJob(secrets.token_urlsafe(32), body, loop, loop.create_future())
        with self._lock:
            self._jobs[call_id] = job
        return job

    def close(self, call_id: str) -> None:
        """Forget the job: its token is good for nothing from now on."""
        with self._lock:
            self._jobs.pop(call_id, None)

    def running(self) -> set[str]:
        """The call ids of the jobs open now."""
        with self._lock:
            return set(self._jobs)

    def _job(self, call_id: str, token: str) -> OpenJob | None:
        with self._lock:
            job = self._jobs.get(call_id)
        if job is None or not hmac.compare_digest(job.token.encode(), token.encode()):
            return None
        return job

    def take_input(self, call_id: str, token: str) -> tuple[int, bytes]:
        """(status, body) for `GET /jobs/<call-id>/input` (once per job)."""
        job = self._job(call_id, token)
        if job is None:
            return 403, b"no such job, or a wrong token\n"
        with self._lock:
            if job.started_at is not None:
                return 409, b"the input of this job was taken already\n"
            job.started_at = time.time()
        return 200, job.body

    def give_result(
        self, call_id: str, token: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """(status, body) for `POST /jobs/<call-id>/result` (once per job); `headers`
        lower-cased."""
        job = self._job(call_id, token)
        if job is None:
            return 403, b"no such job, or a wrong token\n"
        try:
            result = JobResult(
                exit_code=int(headers.get("x-exit-code", "")),
                body=body,
                duration=float(headers.get("x-duration-seconds", "0") or 0),
                outcome=headers.get("x-job-outcome", "ok"),
                content_type=headers.get("content-type") or "application/octet-stream",
            )
        except ValueError:
            return 400, b"X-Exit-Code and X-Duration-Seconds must be numbers\n"

        def deliver() -> None:
            if not job.result.done():
                job.result.set_result(result)

        with self._lock:
            if self._jobs.get(call_id) is not job:
                return 403, b"no such job, or a wrong token\n"
            del self._jobs[call_id]  # single use
        job.loop.call_soon_threadsafe(deliver)
        return 204, b""
