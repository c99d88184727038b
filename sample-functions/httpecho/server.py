"""A long-running HTTP function for the watchdog's http mode.

The watchdog starts this server once and proxies every request to it, so it stays warm
between calls: the reply says how many requests this process has served.
"""

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(os.environ.get("HTTPECHO_PORT", "8000"))


class EchoHandler(BaseHTTPRequestHandler):
    """Describes each request it receives as JSON."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle's algorithm on, the second waits
    # for the peer's delayed ACK, ~40 ms on every keep-alive response.
    disable_nagle_algorithm = True
    served = 0
    lock = threading.Lock()

    def handle_any(self) -> None:
        """Answer any method with a JSON description of the request."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with EchoHandler.lock:
            EchoHandler.served += 1
            served = EchoHandler.served
        url = urlsplit(self.path)
        reply = json.dumps(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "body_bytes": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "requests_served": served,
                "pid": os.getpid(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the watchdog and gateway already log requests."""


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), EchoHandler).serve_forever()
