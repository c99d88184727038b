"""The queue consumer's own HTTP port (`GATEWAY_ASYNC_WORKER_PORT`): `/metrics` and `/healthz`.

`/healthz` answers 503 while the consumer has no usable broker connection, so Swarm's
healthcheck restarts a consumer that stays cut off from NATS instead of leaving it
running with nothing to do (the process reconnects by itself too; this is the backstop).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class MonitoringServer:
    """`/metrics` from `registry`, `/healthz` from `healthy()`, in a background thread."""

    def __init__(
        self, port: int, registry: CollectorRegistry, healthy: Callable[[], str | None]
    ) -> None:
        """`healthy()` returns None when healthy, else the reason (read from this
        server's thread: it must only read plain attributes)."""

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                if path == "/metrics":
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
