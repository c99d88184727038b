"""Header rules in each direction, as pure functions."""

from __future__ import annotations

from gateway.proxy.headers import downstream_response_headers, upstream_request_headers


def test_request_headers() -> None:
    headers, call_id = upstream_request_headers(
        [
            (b"host", b"gw.example"),
            (b"connection", b"keep-alive, x-secret"),
            (b"x-secret", b"1"),
            (b"transfer-encoding", b"chunked"),
            (b"expect", b"100-continue"),
            (b"upgrade", b"h2c"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"x-forwarded-for", b"10.0.0.2"),
            (b"accept", b"a"),
            (b"accept", b"b"),
        ],
        upstream_host="tasks.fn:8080",
        client_address="192.0.2.1",
        scheme="https",
    )
    assert headers["Host"] == "tasks.fn:8080"
    assert headers["X-Forwarded-For"] == "10.0.0.1, 10.0.0.2, 192.0.2.1"
    assert headers["X-Forwarded-Host"] == "gw.example"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Call-Id"] == call_id
    assert headers.getall("accept") == ["a", "b"]
    for dropped in ("connection", "x-secret", "transfer-encoding", "expect", "upgrade"):
        assert dropped not in headers


def test_request_keeps_callers_call_id_and_forwarded_host() -> None:
    headers, call_id = upstream_request_headers(
        [(b"x-call-id", b"abc"), (b"x-forwarded-host", b"front"), (b"host", b"gw")],
        upstream_host="h:1",
        client_address=None,
        scheme="http",
    )
    assert call_id == "abc"
    assert headers["X-Call-Id"] == "abc"
    assert headers.getall("X-Forwarded-Host") == ["front"]
    assert "X-Forwarded-For" not in headers


def test_response_headers() -> None:
    headers = downstream_response_headers(
        [
            (b"Content-Type", b"text/plain"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"close, X-Hop"),
            (b"X-Hop", b"1"),
            (b"Date", b"Mon"),
            (b"X-Call-Id", b"stale"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
        ],
        "call-1",
    )
    assert headers == [
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"x-call-id", b"call-1"),
    ]
