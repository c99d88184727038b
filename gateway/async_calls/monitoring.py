"""The queue consumer's own HTTP port (`GATEWAY_ASYNC_WORKER_PORT`): `/metrics`, `/healthz`,
and the job endpoints (`/jobs/<call-id>/input`, `/jobs/<call-id>/result`: `job_exchange.py`).

`/healthz` answers 503 while the consumer has no usable broker connection, so Swarm's
healthcheck restarts a consumer that stays cut off from NATS instead of leaving it
running with nothing to do (the process reconnects by itself too; this is the backstop).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.async_calls.job_exchange import TOKEN_HEADER, JobExchange


class MonitoringServer:
    """`/metrics` from `registry`, `/healthz` from `healthy()`, in a background thread."""

    def __init__(
        self,
        port: int,
        registry: CollectorRegistry,
        healthy: Callable[[], str | None],
        jobs: JobExchange | None = None,
    ) -> None:
        """`healthy()` returns None when healthy, else the reason (read from this
        server's thread: it must only read plain attributes). `jobs`: serve the job
        endpoints too."""

        def job_path(path: str, action: str) -> str | None:
            parts = path.split("/")  # "", "jobs", call id, action
            if jobs is None or len(parts) != 4 or parts[1] != "jobs" or parts[3] != action:
                return None
            return parts[2]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                call_id = job_path(self.path.partition("?")[0], "result")
                if call_id is None or jobs is None:
                    self._answer(404, "text/plain", b"POST /jobs/<call-id>/result\n")
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self._answer(411, "text/plain", b"Content-Length required\n")
                    return
                if not 0 <= length <= jobs.max_output:
                    self.close_connection = True
                    text = f"a job's output is at most {jobs.max_output} bytes\n"
                    self._answer(413, "text/plain", text.encode())
                    return
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                token = self.headers.get(TOKEN_HEADER, "")
                status, answer = jobs.give_result(call_id, token, headers, body)
                self._answer(status, "text/plain", answer)

            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                call_id = job_path(path, "input")
                if call_id is not None and jobs is not None:
                    token = self.headers.get(TOKEN_HEADER, "")
                    status, body = jobs.take_input(call_id, token)
                    self._answer(status, "application/octet-stream", body)
                elif path == "/metrics":
                    self._answer(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/healthz":
                    problem = healthy()
                    if problem is None:
                        self._answer(200, "text/plain", b"OK\n")
                    else:
                        self._answer(503, "text/plain", f"{problem}\n".encode())
                else:
                    self._answer(404, "text/plain", b"/metrics or /healthz\n")

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
