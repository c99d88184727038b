"""The python3-http template's server: the watchdog (mode=http) starts it once and proxies
every call to it, so the handler stays warm between calls.

Each request becomes an `Event` for `function.handler.handle(event, context)`; what it
returns becomes the response (see `reply`). An exception is a 500 whose traceback goes to
the log. Standard library only: the image needs nothing from a package index.
"""

import json
import os
import socket
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from function import handler

DEFAULT_PORT = 5000


class Event:
    """One call: what `handle` gets as `event`."""

    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body


class Context:
    """What `handle` gets as `context`: facts about the replica."""

    __slots__ = ("hostname",)

    def __init__(self):
        self.hostname = socket.gethostname()


CONTEXT = Context()


def reply(result):
    """(status, headers, body bytes) from what `handle` returned: a dict is OpenFaaS's
    response shape (statusCode, body, headers), anything else the body alone. A body
    that is a dict or a list goes out as JSON."""
    status, headers, body = 200, {}, result
    if isinstance(result, dict):
        status = int(result.get("statusCode", 200))
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body")
    if body is None:
        body = b""
    elif isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, (bytes, bytearray)):
        body = str(body).encode()
    return status, headers, bytes(body)


class Handler(BaseHTTPRequestHandler):
    """Every method goes to `handle`."""

    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle on, the second waits for a delayed ACK.
    disable_nagle_algorithm = True

    def handle_any(self):
        url = urlsplit(self.path)
        event = Event(
            self.command,
            url.path,
            parse_qs(url.query),
            {name.lower(): value for name, value in self.headers.items()},
            self.read_body(),
        )
        try:
            status, headers, body = reply(handler.handle(event, CONTEXT))
        except Exception:
            traceback.print_exc(file=sys.stderr)
            status, headers, body = 500, {"Content-Type": "text/plain"}, b"handler error\n"
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def log_message(self, format, *args):
        """Quiet: the watchdog and the gateway log every call already."""


def main():
    # The watchdog's own setting (lower case, as it names it) says where to listen.
    port = urlsplit(os.environ.get("upstream_url", "")).port or DEFAULT_PORT  # noqa: SIM112
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
