"""HTTP/1.1 response bytes: status line and headers, short text answers, chunk frames."""

from __future__ import annotations

import http
import time
from collections.abc import Sequence

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
# RFC 9110's IMF-fixdate in English whatever the locale, as email.utils.formatdate writes
# it (that module and the email package it loads would be 1 MB of an idle watchdog's RSS).
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_second = -1
_date_text = ""


def http_date(seconds: float) -> str:
    """`seconds` since the epoch as an HTTP date: ``Mon, 07 Dec 2026 07:05:40 GMT``."""
    t = time.gmtime(seconds)
    day, month = _DAYS[t.tm_wday], _MONTHS[t.tm_mon - 1]  # %a and %b follow the locale
    return f"{day}, {t.tm_mday:02d} {month} " + time.strftime("%Y %H:%M:%S GMT", t)


def _date() -> str:
    """The Date header's value, formatted at most once a second."""
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_text = now, http_date(now)
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
