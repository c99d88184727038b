"""Header rules in each direction, as pure functions."""

from __future__ import annotations

import re
import time

import pytest
from multidict import CIMultiDict

from gateway.errors import BadRequest, LoopDetected
from gateway.proxy.headers import MAX_HOPS, downstream_response_headers, upstream_request_headers


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


def test_request_keeps_callers_call_id() -> None:
    headers, call_id = upstream_request_headers(
        [(b"x-call-id", b"abc"), (b"host", b"gw")],
        upstream_host="h:1",
        client_address=None,
        scheme="http",
    )
    assert call_id == "abc"
    assert headers["X-Call-Id"] == "abc"
    assert "X-Forwarded-For" not in headers
    assert "X-Real-IP" not in headers


def request_headers(*headers: tuple[bytes, bytes]) -> CIMultiDict[str]:
    """`upstream_request_headers` for a call from 192.0.2.1 over https to host `gw`."""
    forwarded, _ = upstream_request_headers(
        [(b"host", b"gw"), *headers],
        upstream_host="h:1",
        client_address="192.0.2.1",
        scheme="https",
    )
    return forwarded


def test_the_edge_sets_the_forwarding_headers_itself() -> None:
    headers = request_headers(
        (b"x-forwarded-host", b"evil.example"),
        (b"x-forwarded-proto", b"gopher"),
        (b"forwarded", b"for=10.9.9.9;host=evil.example;proto=https"),
        (b"x-real-ip", b"10.9.9.9"),
        (b"x-forwarded-for", b"10.9.9.9"),
    )
    assert headers.getall("X-Forwarded-Host") == ["gw"]
    assert headers.getall("X-Forwarded-Proto") == ["https"]
    assert headers.getall("X-Real-IP") == ["192.0.2.1"]
    assert "Forwarded" not in headers
    # The peer is appended: the last entry is the one the gateway vouches for.
    assert headers.getall("X-Forwarded-For") == ["10.9.9.9, 192.0.2.1"]


def test_proxy_and_x_function_are_not_forwarded() -> None:
    headers = request_headers((b"proxy", b"http://attacker.example:3128"), (b"x-function", b"loop"))
    assert "Proxy" not in headers
    assert "X-Function" not in headers


def test_hop_count_starts_and_increments() -> None:
    assert request_headers()["X-Faas-Hops"] == "1"
    assert request_headers((b"x-faas-hops", b"3"))["X-Faas-Hops"] == "4"
    # Several values: the highest counts, and one value goes on.
    several = request_headers((b"x-faas-hops", b"2"), (b"x-faas-hops", b"7"))
    assert several.getall("X-Faas-Hops") == ["8"]
    assert request_headers((b"x-faas-hops", b"%d" % (MAX_HOPS - 1)))["X-Faas-Hops"] == "10"


@pytest.mark.parametrize("hops", [b"10", b"11", b"0010", b"9" * 5000])
def test_too_many_hops_is_a_loop(hops: bytes) -> None:
    with pytest.raises(LoopDetected, match="X-Faas-Hops"):
        request_headers((b"x-faas-hops", hops))


@pytest.mark.parametrize("hops", [b"", b"-1", b"1.5", b"\xc2\xb2", b"one"])
def test_a_hop_count_that_is_no_number_is_refused(hops: bytes) -> None:
    with pytest.raises(BadRequest, match="X-Faas-Hops"):
        request_headers((b"x-faas-hops", hops))


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


def test_response_headers_carry_the_start_and_the_duration() -> None:
    started = time.time_ns() - 250_000_000
    headers = downstream_response_headers(
        [(b"X-Duration-Seconds", b"0.001"), (b"X-Start-Time", b"1"), (b"X-Other", b"kept")],
        "call-1",
        started,
    )
    names = [name for name, _ in headers]
    assert names == [b"x-other", b"x-call-id", b"x-start-time", b"x-duration-seconds"]
    values = dict(headers)
    assert values[b"x-start-time"] == str(started).encode()
    assert re.fullmatch(rb"\d+\.\d{6}", values[b"x-duration-seconds"])
    assert 0.25 <= float(values[b"x-duration-seconds"]) < 60
