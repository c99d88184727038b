"""Job mode: run fprocess once for one queued call, then exit (docs/jobs.md).

A job's container has no HTTP caller: the queue worker starts it as a Swarm job with
`FAAS_JOB_URL` (its own endpoint for this call) and `FAAS_JOB_TOKEN` (a random token,
good for one input and one result). The watchdog GETs `<url>/input` (the call's body),
runs fprocess with it on stdin exactly as fork mode does (the same `spawn`, `Child`,
`Pipe`: its own session, its group killed when it exits), and POSTs stdout, the exit
code and the duration to `<url>/result`. stdout over `FAAS_JOB_MAX_OUTPUT` bytes stops
the process; the result then says so (`X-Job-Outcome: output-too-large`) with no body.
There is no `exec_timeout` here: the queue worker removes a job that runs too long.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from .child import Child
from .config import CHUNK, Config, which
from .logs import log
from .pipes import Pipe, StderrReader
from .reaper import Reaper
from .spawn import prepare_fds, spawn

JOB_TOKEN_ENV = "FAAS_JOB_TOKEN"
TOKEN_HEADER = "X-Job-Token"
OUTCOME_HEADER = "X-Job-Outcome"
EXCHANGE_TIMEOUT = 30.0
"""Seconds the input GET and the result POST may take each."""
EXCHANGE_ATTEMPTS = 3

OK = "ok"
OUTPUT_TOO_LARGE = "output-too-large"
START_FAILED = "start-failed"


class JobError(Exception):
    """The job's input or result could not be exchanged with the queue worker."""


def _exchange(url: str, token: str, data: bytes | None, headers: Mapping[str, str]) -> bytes:
    """GET (no `data`) or POST `url` with the token; the answer's body. Retried a few
    times on a connection error (the worker may be busy), never on an HTTP error."""
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header(TOKEN_HEADER, token)
    for name, value in headers.items():
        request.add_header(name, value)
    for attempt in range(1, EXCHANGE_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=EXCHANGE_TIMEOUT) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as error:
            text = error.read()[:200].decode(errors="replace")
            raise JobError(f"{url}: {error.code} {text}") from None
        except OSError as error:
            if attempt == EXCHANGE_ATTEMPTS:
                raise JobError(f"{url}: {error}") from None
            time.sleep(attempt)
    raise AssertionError("unreachable")


async def _collect(stdout: Pipe, limit: int, child: Child) -> tuple[bytes, bool]:
    """stdout to its end, or the first `limit` bytes and True once it writes more."""
    held = bytearray()
    while True:
        data = await stdout.read(CHUNK)
        if not data:
            return bytes(held), False
        if len(held) + len(data) > limit:
            child.abort()
            return b"", True
        held += data


async def _feed(stdin: Pipe, data: bytes) -> None:
    await stdin.write(data)
    stdin.close()


async def run_once(
    cfg: Config, env: Mapping[str, str], body: bytes, limit: int
) -> tuple[int, bytes, str]:
    """Run fprocess once with `body` on stdin: (exit code, stdout, outcome)."""
    loop = asyncio.get_running_loop()
    reaper = Reaper()
    reaper.start(loop)
    prepare_fds()
    exe = which(cfg.fprocess[0], env.get("PATH", os.defpath)) or cfg.fprocess[0]
    try:
        pid, in_fd, out_fd, err_fd, rest = spawn(exe, cfg.fprocess, env, cfg.combine_output, body)
    except OSError as error:
        log(f"cannot start fprocess: {error}")
        return -1, f"cannot start fprocess: {error}\n".encode(), START_FAILED
    child = Child(loop, pid, reaper)
    stdout = Pipe(loop, out_fd)
    stderr = StderrReader(loop, err_fd, cfg.buffer_bytes) if err_fd >= 0 else None
    child.give_up = stdout.close
    feed = asyncio.ensure_future(_feed(Pipe(loop, in_fd), rest)) if in_fd >= 0 else None
    try:
        output, too_large = await _collect(stdout, limit, child)
        rc = await child.wait()
        if stderr is not None:
            await stderr.done
    finally:
        child.kill()
        stdout.close()
        if stderr is not None:
            stderr.close()
        if feed is not None:
            feed.cancel()
    return rc, output, OUTPUT_TOO_LARGE if too_large else OK


def run_job(cfg: Config, env: Mapping[str, str]) -> int:
    """The whole job: fetch the input, run fprocess, post the result. 0 once the result
    is delivered, else 3 (the queue worker then reads the task's failure)."""
    url, token, limit = cfg.job_url, cfg.job_token, cfg.job_max_output
    try:
        body = _exchange(url + "/input", token, None, {})
    except JobError as error:
        log(f"job input not fetched: {error}")
        return 3
    started = time.monotonic()
    process_env = {name: value for name, value in env.items() if name != JOB_TOKEN_ENV}
    rc, output, outcome = asyncio.run(run_once(cfg, process_env, body, limit))
    seconds = time.monotonic() - started
    if outcome == OUTPUT_TOO_LARGE:
        log(f"fprocess wrote more than FAAS_JOB_MAX_OUTPUT={limit} bytes; stopped")
    headers = {
        "X-Exit-Code": str(rc),
        "X-Duration-Seconds": f"{seconds:f}",
        OUTCOME_HEADER: outcome,
        "Content-Type": cfg.content_type or "application/octet-stream",
    }
    try:
        _exchange(url + "/result", token, output, headers)
    except JobError as error:
        log(f"job result not delivered: {error}")
        return 3
    log(f"job done: exit code {rc}, {len(output)} bytes, {seconds:f}s")
    return 0
