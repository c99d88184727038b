"""The watchdog's job mode (`FAAS_JOB_URL`): the shipped zipapp, run once against a real local
HTTP server standing in for the queue worker's job endpoints."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests import support

TOKEN = "s3cret-token"


@dataclass
class FakeWorker:
    """What the queue worker would serve for one job: its input, and what was posted back."""

    body: bytes = b""
    results: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    input_tokens: list[str] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def worker() -> Iterator[FakeWorker]:
    state = FakeWorker()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _token_ok(self) -> bool:
            if self.headers.get("X-Job-Token") == TOKEN:
                return True
            self._answer(403, b"bad token\n")
            return False

        def do_GET(self) -> None:
            state.input_tokens.append(self.headers.get("X-Job-Token", ""))
            if self.path == "/jobs/call-1/input" and self._token_ok():
                self._answer(200, state.body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            data = self.rfile.read(length)
            if self.path == "/jobs/call-1/result" and self._token_ok():
                state.results.append(({k.lower(): v for k, v in self.headers.items()}, data))
                self._answer(204, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def run_job(
    worker: FakeWorker, fprocess: str, token: str = TOKEN, **env: str
) -> subprocess.CompletedProcess[bytes]:
    settings = {
        "PATH": os.environ.get("PATH", os.defpath),
        "fprocess": fprocess,
        "FAAS_JOB_URL": f"http://127.0.0.1:{worker.port}/jobs/call-1",
        "FAAS_JOB_TOKEN": token,
        **env,
    }
    zipapp = support.watchdog_zipapp()
    return subprocess.run(
        [sys.executable, str(zipapp)], env=settings, capture_output=True, timeout=60
    )


def test_the_body_goes_to_stdin_and_stdout_comes_back_with_the_exit_code(
    worker: FakeWorker,
) -> None:
    worker.body = b"hello job\n"
    done = run_job(worker, "tr a-z A-Z")
    assert done.returncode == 0, done.stderr
    [(headers, body)] = worker.results
    assert body == b"HELLO JOB\n"
    assert headers["x-exit-code"] == "0"
    assert headers["x-job-outcome"] == "ok"
    assert float(headers["x-duration-seconds"]) >= 0


def test_a_failing_process_reports_its_exit_code(worker: FakeWorker) -> None:
    done = run_job(worker, "sh -c 'echo partial; exit 7'")
    assert done.returncode == 0, done.stderr
    [(headers, body)] = worker.results
    assert headers["x-exit-code"] == "7"
    assert body == b"partial\n"


def test_output_over_the_maximum_is_refused_and_the_process_stopped(worker: FakeWorker) -> None:
    done = run_job(worker, "sh -c 'head -c 5000 /dev/zero; sleep 30'", FAAS_JOB_MAX_OUTPUT="1000")
    assert done.returncode == 0, done.stderr
    [(headers, body)] = worker.results
    assert headers["x-job-outcome"] == "output-too-large"
    assert body == b""
    assert b"FAAS_JOB_MAX_OUTPUT=1000" in done.stderr


def test_a_bad_token_runs_nothing(worker: FakeWorker, tmp_path: os.PathLike[str]) -> None:
    marker = os.path.join(tmp_path, "ran")
    done = run_job(worker, f"touch {marker}", token="wrong")
    assert done.returncode == 3
    assert b"403" in done.stderr
    assert worker.results == []
    assert not os.path.exists(marker)


def test_the_process_does_not_see_the_token(worker: FakeWorker) -> None:
    done = run_job(worker, "env")
    assert done.returncode == 0, done.stderr
    [(_, body)] = worker.results
    assert b"FAAS_JOB_TOKEN" not in body
    assert b"FAAS_JOB_URL" in body
    assert worker.input_tokens == [TOKEN]
