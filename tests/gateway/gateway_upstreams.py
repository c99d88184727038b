"""Upstreams for the gateway tests that are not watchdogs: misbehaving ones, and one that
shows exactly which headers arrived (healthy replicas are real watchdogs)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import struct
import threading
from types import TracebackType


class FaultyUpstream:
    """A loopback listener that misbehaves on purpose, in a thread of the test process.

    `mode="silent"`: accepts and reads, never answers (timeouts).
    `mode="reset"`: accepts, reads the request, then resets the connection.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        self._socket.close()
        for connection in self._held:
            connection.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            connection.settimeout(5)
            with contextlib.suppress(OSError):
                connection.recv(65536)
            if self.mode == "reset":
                # SO_LINGER 0: close with RST instead of FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            else:
                self._held.append(connection)


class HeaderEcho:
    """A loopback HTTP server answering every request with the headers it received, as a
    JSON list of `[name, value]` pairs in wire order (the watchdog would filter some)."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HeaderEcho:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(list(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read answers, not logs."""


class HeldUpstream:
    """A loopback HTTP server that holds every request until the test lets them go: a
    call in flight for as long as a test needs one. Each answer is 200 `done`."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HoldThenAnswer)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.arrived = threading.Semaphore(0)
        """Released once per request that arrived (and is being held)."""
        self.released = threading.Event()
        self._server.upstream = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HeldUpstream:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


class _HoldThenAnswer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _hold(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream: HeldUpstream = self.server.upstream  # type: ignore[attr-defined]
        upstream.arrived.release()
        upstream.released.wait(timeout=300)  # a safety bound for a stuck test
        with contextlib.suppress(OSError):  # the gateway may have cut the call
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"done")

    do_POST = _hold

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read answers, not logs."""
