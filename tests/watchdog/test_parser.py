"""fwatchdog.http1.parser in-process: raw request bytes in, a parsed request (or the error
status the client gets) out."""

from __future__ import annotations

import asyncio

import pytest
from fwatchdog.http1.parser import HTTPError, Request, iter_body, parse_head


def head(*lines: str) -> bytes:
    """A request head from its lines, CRLF-terminated."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_parse_head() -> None:
    req = parse_head(
        b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    )
    assert (req.method, req.path, req.query) == ("POST", "/a/b", "c=d")
    assert req.content_length == 3
    assert not req.keep_alive
    assert not req.chunked


def test_parse_head_absolute_form() -> None:
    req = parse_head(b"GET http://example.com/p?q=1 HTTP/1.1\r\n\r\n")
    assert (req.path, req.query) == ("/p", "q=1")


def test_headers_keep_their_order_case_and_repeats() -> None:
    req = parse_head(head("GET / HTTP/1.1", "X-A: 1", "x-a:2", "Host:  h \t"))
    assert req.headers == [("X-A", "1"), ("x-a", "2"), ("Host", "h")]


@pytest.mark.parametrize(
    ("lines", "keep_alive"),
    [
        (("GET / HTTP/1.1",), True),
        (("GET / HTTP/1.1", "Connection: close"), False),
        (("GET / HTTP/1.1", "Connection: Upgrade, Close"), False),
        (("GET / HTTP/1.0",), False),
        (("GET / HTTP/1.0", "Connection: keep-alive"), True),
    ],
)
def test_keep_alive(lines: tuple[str, ...], keep_alive: bool) -> None:
    assert parse_head(head(*lines)).keep_alive is keep_alive


@pytest.mark.parametrize(
    ("lines", "chunked", "length"),
    [
        (("POST / HTTP/1.1", "Transfer-Encoding: chunked"), True, None),
        (("POST / HTTP/1.1", "Transfer-Encoding: Chunked"), True, None),
        (("POST / HTTP/1.1", "Content-Length: 12"), False, 12),
        (("POST / HTTP/1.1",), False, None),
    ],
)
def test_body_framing(lines: tuple[str, ...], chunked: bool, length: int | None) -> None:
    req = parse_head(head(*lines))
    assert (req.chunked, req.content_length) == (chunked, length)


def test_expect_and_content_type() -> None:
    req = parse_head(
        head("PUT /x HTTP/1.1", "Expect: 100-Continue", "Content-Type: a/b", "Content-Length: 1")
    )
    assert req.expect_continue
    assert req.content_type == "a/b"
    assert req.has_body


def test_options_asterisk() -> None:
    assert parse_head(head("OPTIONS * HTTP/1.1")).path == "*"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (head("GET /"), 400),
        (head("GET / HTTP/1.1 extra"), 400),
        (head("get/ HTTP/1.1"), 400),
        (head("GET x HTTP/1.1"), 400),
        (head("GET * HTTP/1.1"), 400),
        (head("GET / HTTP/2.0"), 505),
        (head("GET / HTTP/1.1", "No colon"), 400),
        (head("GET / HTTP/1.1", "Bad Name: x"), 400),
        (head("GET / HTTP/1.1", " Folded: x"), 400),
        (head("GET / HTTP/1.1", "X: a\x00b"), 400),
        (head("GET / HTTP/1.1", "X: a\nb"), 400),
        (head("POST / HTTP/1.1", "Content-Length: 1", "Transfer-Encoding: chunked"), 400),
        (head("POST / HTTP/1.1", "Transfer-Encoding: gzip, chunked"), 400),
        (head("POST / HTTP/1.0", "Transfer-Encoding: chunked"), 400),
        (head("POST / HTTP/1.1", "Content-Length: -1"), 400),
        (head("POST / HTTP/1.1", "Content-Length: +1"), 400),
        (head("POST / HTTP/1.1", "Content-Length: ²"), 400),
        (head("POST / HTTP/1.1", "Content-Length: 1" + "0" * 18), 400),
        (head("POST / HTTP/1.1", "Content-Length: 1, 2"), 400),
        (head("POST / HTTP/1.1", "Content-Length: 5, 5"), 400),
        (head("POST / HTTP/1.1", "Content-Length: 5", "Content-Length: 5"), 400),
        (head("POST / HTTP/1.1", "Content-Length: 1", "Content-Length: 2"), 400),
    ],
)
def test_malformed_heads(raw: bytes, status: int) -> None:
    with pytest.raises(HTTPError) as caught:
        parse_head(raw)
    assert caught.value.status == status


def read_body(
    data: bytes, chunked: bool = True, length: int | None = None, limit: int = 0
) -> list[bytes]:
    """Feed `data` (then EOF) to a StreamReader and collect what iter_body yields."""

    async def collect() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [part async for part in iter_body(reader, chunked, length, limit=limit)]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"0\r\n\r\n", b""),
        (b"3\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"3;name=value\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", b"abc"),
    ],
)
def test_chunked_bodies(raw: bytes, body: bytes) -> None:
    assert b"".join(read_body(raw)) == body


@pytest.mark.parametrize(
    "raw",
    [
        b"x\r\nabc\r\n0\r\n\r\n",
        b"-3\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"1234567890abcdef\r\n",
        # Whitespace after the size, as httptools and h11 (test_parser_fuzz.py, FOUND).
        b"3 ;x\r\nabc\r\n0\r\n\r\n",
    ],
)
def test_malformed_chunks(raw: bytes) -> None:
    with pytest.raises(HTTPError) as caught:
        read_body(raw)
    assert caught.value.status == 400


def test_chunked_body_over_the_limit() -> None:
    with pytest.raises(HTTPError) as caught:
        read_body(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", limit=5)
    assert caught.value.status == 413


@pytest.mark.parametrize("raw", [b"3\r\nab", b"3\r\nabc\r\n", b"3\r\nabc\r\n0\r\n"])
def test_chunked_body_cut_short(raw: bytes) -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        read_body(raw)


def test_length_body_and_eof_body() -> None:
    assert b"".join(read_body(b"abcdef", chunked=False, length=4)) == b"abcd"
    assert b"".join(read_body(b"abcdef", chunked=False, length=None)) == b"abcdef"
    with pytest.raises(asyncio.IncompleteReadError):
        read_body(b"ab", chunked=False, length=4)


def test_request_has_body() -> None:
    req = Request()
    assert not req.has_body
    req.content_length = 0
    assert not req.has_body
    req.chunked = True
    assert req.has_body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"3;a\nb\r\nabc\r\n0\r\n\r\n", 400),
        (b"3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
        (b"3;a\x00\r\nabc\r\n0\r\n\r\n", 400),
        (b"3\r\nabc\r\n0\r\nno colon\r\n\r\n", 400),
        (b"0\r\nX: a\nb\r\n\r\n", 400),
        (b"0\r\nBad Name: x\r\n\r\n", 400),
        (b"0\r\n: x\r\n\r\n", 400),
        (b"0\r\n" + b"X-Trailer: 1234567890\r\n" * 10 + b"\r\n", 431),
    ],
)
def test_bad_chunk_extensions_and_trailers(raw: bytes, status: int) -> None:
    async def collect() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        async for _ in iter_body(reader, True, None, max_trailer_bytes=100):
            pass

    with pytest.raises(HTTPError) as caught:
        asyncio.run(collect())
    assert caught.value.status == status
