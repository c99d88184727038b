"""fwatchdog.http1.writer in-process: the exact bytes of response heads and frames."""

from __future__ import annotations

import time

import pytest
from fwatchdog.http1 import writer

DATE = "Tue, 01 Dec 2026 10:00:00 GMT"


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_date", lambda: DATE)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            (200, [("Content-Type", "text/plain")], True, 5),
            "HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Type: text/plain\r\n"
            "Content-Length: 5\r\n\r\n",
        ),
        (
            (200, [], True, None, True),
            "HTTP/1.1 200 OK\r\nDate: {date}\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            (200, [], False, None),
            "HTTP/1.1 200 OK\r\nDate: {date}\r\nConnection: close\r\n\r\n",
        ),
        (
            (504, [("X-A", "b")], False, 0),
            "HTTP/1.1 504 Gateway Timeout\r\nDate: {date}\r\nX-A: b\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        ((599, [], True, 0), "HTTP/1.1 599 \r\nDate: {date}\r\nContent-Length: 0\r\n\r\n"),
    ],
)
def test_response_head(args: tuple[object, ...], expected: str) -> None:
    assert writer.response_head(*args) == expected.format(date=DATE).encode()  # type: ignore[arg-type]


def test_simple_response() -> None:
    raw = writer.simple_response(429, b"busy\n", [("X-Duration-Seconds", "0.1")], True)
    assert raw == (
        b"HTTP/1.1 429 Too Many Requests\r\nDate: " + DATE.encode() + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nX-Duration-Seconds: 0.1\r\n"
        b"Content-Length: 5\r\n\r\nbusy\n"
    )


def test_header_values_are_latin1() -> None:
    raw = writer.response_head(200, [("X-Name", "caf\xe9")], True, 0)
    assert b"X-Name: caf\xe9\r\n" in raw


@pytest.mark.parametrize(
    ("data", "chunked", "expected"),
    [
        (b"abc", True, b"3\r\nabc\r\n"),
        (b"x" * 26, True, b"1a\r\n" + b"x" * 26 + b"\r\n"),
        (b"abc", False, b"abc"),
    ],
)
def test_frame(data: bytes, chunked: bool, expected: bytes) -> None:
    assert writer.frame(data, chunked) == expected


def test_duration_header() -> None:
    name, value = writer.duration_header(0.0)
    assert name == "X-Duration-Seconds"
    assert float(value) > 0


@pytest.mark.parametrize("seconds", [0, 951782400, 1796630740, 4102444799, 253402300799])
def test_http_date_is_what_email_utils_writes(seconds: int) -> None:
    from email.utils import formatdate

    assert writer.http_date(seconds) == formatdate(seconds, usegmt=True)


def test_http_date_is_english_whatever_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "strftime", lambda fmt, t: f"<{fmt}>")
    assert writer.http_date(0) == "Thu, 01 Jan <%Y %H:%M:%S GMT>"  # names not from strftime
