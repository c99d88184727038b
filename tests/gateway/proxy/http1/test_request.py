"""A request's head and framing: exactly the caller's headers, plus the body's framing."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from gateway.proxy.http1.request import InvalidRequest, chunk_prefix, request_head


def headers(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs)


def test_host_first_then_the_callers_headers_in_order() -> None:
    head, chunked = request_head(
        "GET", "/a?b=1", headers(("B", "2"), ("A", "1"), ("Host", "fn:8080")), None, False
    )
    assert head == b"GET /a?b=1 HTTP/1.1\r\nHost: fn:8080\r\nB: 2\r\nA: 1\r\n\r\n"
    assert not chunked


def test_buffered_body_gets_its_length_unless_given() -> None:
    head, _ = request_head("POST", "/", headers(("Host", "h")), b"hello", False)
    assert head.endswith(b"Content-Length: 5\r\n\r\n")
    head, _ = request_head("POST", "/", headers(("Content-Length", "5")), b"hello", False)
    assert head.count(b"Content-Length") == 1


@pytest.mark.parametrize(("method", "added"), [("POST", True), ("DELETE", True), ("GET", False)])
def test_no_body_is_length_zero_only_for_methods_that_carry_one(method: str, added: bool) -> None:
    head, _ = request_head(method, "/", headers(("Host", "h")), None, False)
    assert (b"Content-Length: 0\r\n" in head) is added


def test_streamed_body_is_chunked_without_a_length() -> None:
    head, chunked = request_head("POST", "/", headers(("Host", "h")), None, True)
    assert chunked
    assert b"Transfer-Encoding: chunked\r\n" in head
    head, chunked = request_head("POST", "/", headers(("Content-Length", "9")), None, True)
    assert not chunked
    assert b"Transfer-Encoding" not in head


def test_header_bytes_pass_unchanged() -> None:
    value = b"caf\xe9".decode("latin-1")
    head, _ = request_head("GET", "/", headers(("X-Name", value)), None, False)
    assert b"X-Name: caf\xe9\r\n" in head


@pytest.mark.parametrize(
    ("path", "value"), [("/", "a\r\nX-Evil: 1"), ("/", "a\nb"), ("/x\r\n", "ok")]
)
def test_cr_or_lf_in_a_header_or_the_path_is_refused(path: str, value: str) -> None:
    with pytest.raises(InvalidRequest):
        request_head("GET", path, headers(("X-A", value)), None, False)


def test_chunk_prefix_is_hex() -> None:
    assert chunk_prefix(255) == b"ff\r\n"
