"""HTTP/1.1 response bytes: status line and headers, short text answers, chunk frames."""

from __future__ import annotations

import http
import time
from collections.abc import Sequence
from email.utils import formatdate

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
_date_second = -1
_date_text = ""


def _date() -> str:
    """The Date header's value, formatted at most once a second."""
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_text = now, formatdate(now, usegmt=True)
    return _date_text


def response_head(
    status: int,
    headers: Sequence[tuple[str, str]],
    keep_alive: bool,
    length: int | None,
    chunked: bool = False,
) -> bytes:
    """Serialise a status line and headers; the caller chooses the framing."""
    out = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nDate: {_date()}\r\n"]
    for name, value in headers:
        out.append(f"{name}: {value}\r\n")
    if length is not None:
        out.append(f"Content-Length: {length}\r\n")
    elif chunked:
        out.append("Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1")


def simple_response(
    status: int, body: bytes, headers: Sequence[tuple[str, str]], keep_alive: bool
) -> bytes:
    """A whole plain-text response: head and body in one piece."""
    head = [("Content-Type", "text/plain; charset=utf-8"), *headers]
    return response_head(status, head, keep_alive, len(body)) + body


def duration_header(t0: float) -> tuple[str, str]:
    """X-Duration-Seconds: the time since `t0` (time.monotonic()) when the head was sent."""
    return ("X-Duration-Seconds", "%.6f" % (time.monotonic() - t0))


def frame(data: bytes, chunked: bool) -> bytes:
    """`data` as one chunk, or as it is when the body is not chunked."""
    return b"%x\r\n%b\r\n" % (len(data), data) if chunked else data
