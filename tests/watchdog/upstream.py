"""A small stdlib HTTP/1.1 server used as the http-mode upstream in tests.

Usage: python upstream.py PORT
  GET  /pid       -> this process's pid
  POST /echo      -> the request body (Content-Length), X-Seen-* echo some request headers
  GET  /chunked   -> a chunked response
  GET  /close     -> a body delimited by closing the connection
  GET  /crash     -> the process exits at once, without answering
  GET  /sleep     -> answers after 30 s
  *    /status/N  -> status N with a short body
  GET  /spawn?M   -> starts `setsid sleep M` that outlives the shell starting it (an
                     orphan), then answers
With UPSTREAM_KEEP=M set, it starts such an orphan (`sleep M.1`) and a child of its own
(`sleep M.2`) before it serves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """Routes for the tests."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        """Headers and body go out in separate writes: do not let Nagle delay the body."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        """Read-only routes."""
        self._route()

    def do_POST(self) -> None:
        """Routes with a body."""
        self._route()

    do_PUT = do_POST
    do_DELETE = do_GET

    def _route(self) -> None:
        body = self._body()
        path = self.path.split("?")[0]
        if path == "/pid":
            self._send(200, str(os.getpid()).encode(), Content_Type="text/plain")
        elif path == "/echo":
            self._send(
                200,
                body,
                Content_Type=self.headers.get("Content-Type", "application/octet-stream"),
                X_Seen_Path=self.path,
                X_Seen_Host=self.headers.get("Host", ""),
                X_Seen_Call_Id=self.headers.get("X-Call-Id", ""),
                X_Seen_Connection=self.headers.get("Connection", ""),
            )
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"alpha", b"beta", b"gamma" * 30_000):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        elif path == "/crash":
            os._exit(1)
        elif path == "/sleep":
            time.sleep(30)
            self._send(200, b"late")
        elif path == "/spawn":
            leave_orphan(self.path.partition("?")[2])
            self._send(200, b"spawned")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status body")
        else:
            self._send(404, b"not found")


def leave_orphan(duration: str) -> None:
    """`setsid sleep <duration>` in the background of a shell that exits at once."""
    os.system(f"setsid sleep {duration} >/dev/null 2>&1 &")


def main() -> None:
    """Serve on 127.0.0.1:PORT."""
    keep = os.environ.get("UPSTREAM_KEEP")
    if keep:
        leave_orphan(keep + "1")
        subprocess.Popen(["sleep", keep + "2"])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
