"""fwatchdog.http1.writer in-process: the exact bytes of response heads and frames."""

from __future__ import annotations

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
