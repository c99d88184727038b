"""HTTP/1.1 request parsing: the head (``parse_head``) and the body (``iter_body``).

No sockets here: a head is bytes, a body comes from any ``asyncio.StreamReader``, and the
read deadline is whatever ``ReadDeadline`` the caller passes (the connection's timer).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Protocol

CHUNK = 65536  # the largest piece of a body yielded at once


class HTTPError(Exception):
    """A request that gets an error status instead of reaching the function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ReadDeadline(Protocol):
    """A deadline for the next read, armed before it and disarmed after it."""

    def arm(self, timeout: float) -> None: ...

    def disarm(self) -> None: ...


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) HTTP/(\d)\.(\d)")
_HEADER_NAME = re.compile(_TOKEN)
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,15}")
# Chunk extensions: any visible text, spaces and tabs; never a bare CR or LF.
_CHUNK_EXTENSION = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_TRAILER_LINE = re.compile(rb"(%s):[\t\x20-\x7e\x80-\xff]*" % _TOKEN.encode())
MAX_TRAILER_BYTES = 65536
# Not allowed in trailers (RFC 9110, 6.5.1); httptools, the gateway's parser, refuses them.
_FRAMING_FIELDS = (b"content-length", b"transfer-encoding")


class Request:
    """A parsed request head."""

    __slots__ = (
        "chunked",
        "content_length",
        "content_type",
        "expect_continue",
        "headers",
        "http11",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
    )

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.path = ""
        self.query = ""
        self.http11 = True
        self.headers: list[tuple[str, str]] = []
        self.content_length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.expect_continue = False
        self.content_type = ""

    @property
    def has_body(self) -> bool:
        """Whether a request body follows the head."""
        return self.chunked or bool(self.content_length)


def parse_head(head: bytes) -> Request:
    """Parse a request head (ending with CRLFCRLF); raise HTTPError when it is malformed."""
    lines = head.decode("latin-1").split("\r\n")[:-2]
    match = _REQUEST_LINE.fullmatch(lines[0]) if lines else None
    if match is None:
        raise HTTPError(400, "malformed request line")
    req = Request()
    req.method, req.target = match.group(1), match.group(2)
    major, minor = int(match.group(3)), int(match.group(4))
    if major != 1:
        raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    req.http11 = minor >= 1
    target = req.target
    if not target.startswith("/"):
        if target.startswith(("http://", "https://")):
            from urllib.parse import urlsplit  # rare (absolute-form): not loaded at rest

            parts = urlsplit(target)
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        elif not (target == "*" and req.method == "OPTIONS"):
            raise HTTPError(400, "malformed request target")
    req.path, _, req.query = target.partition("?")
    lengths: list[str] = []
    encodings: list[str] = []
    connection = ""
    hosts = 0
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or _HEADER_NAME.fullmatch(name) is None:
            raise HTTPError(400, "malformed header line")
        value = value.strip(" \t")
        if _BAD_VALUE.search(value):
            raise HTTPError(400, "invalid character in header value")
        req.headers.append((name, value))
        lower = name.lower()
        if lower == "content-length":
            lengths.extend(v.strip(" \t") for v in value.split(","))
        elif lower == "transfer-encoding":
            encodings.extend(v.strip(" \t").lower() for v in value.split(","))
        elif lower == "connection":
            connection += "," + value.lower()
        elif lower == "expect":
            req.expect_continue = value.lower() == "100-continue"
        elif lower == "content-type":
            req.content_type = value
        elif lower == "host":
            hosts += 1
    if hosts > 1:
        raise HTTPError(400, "more than one Host field")
    if encodings:
        if lengths:
            raise HTTPError(400, "both Content-Length and Transfer-Encoding")
        if encodings != ["chunked"] or not req.http11:
            raise HTTPError(400, "unsupported Transfer-Encoding (only chunked)")
        req.chunked = True
    elif lengths:
        first = lengths[0]
        if not first.isdigit() or not first.isascii() or len(first) > 18:
            raise HTTPError(400, "invalid Content-Length")
        if len(lengths) > 1:
            # Even equal ones (RFC 9112 6.3 lets a server refuse them): httptools, the
            # gateway's parser, refuses them, and two parsers in one chain must agree.
            raise HTTPError(400, "more than one Content-Length value")
        req.content_length = int(first)
    tokens = {t.strip() for t in connection.split(",")}
    req.keep_alive = "close" not in tokens if req.http11 else "keep-alive" in tokens
    return req


async def iter_body(
    reader: asyncio.StreamReader,
    chunked: bool,
    length: int | None,
    conn: ReadDeadline | None = None,
    read_timeout: float = 0,
    limit: int = 0,
    max_trailer_bytes: int = MAX_TRAILER_BYTES,
) -> AsyncIterator[bytes]:
    """Yield a message body: chunked, `length` bytes, or up to EOF if length is None.

    With `conn` (a read deadline), every read has `read_timeout`. Raises HTTPError 400 on bad chunk
    framing (a bare CR or LF in a chunk extension, a malformed trailer field), 413 past
    `limit` bytes, 431 for trailers over `max_trailer_bytes`, and IncompleteReadError on
    early EOF. Trailer fields are checked, then dropped.
    """
    total = 0
    try:
        if chunked:
            while True:
                if conn is not None:
                    conn.arm(read_timeout)
                try:
                    line = await reader.readuntil(b"\r\n")
                except asyncio.LimitOverrunError:
                    raise HTTPError(400, "chunk size line too long") from None
                # No whitespace after the size: httptools (the gateway) and h11 refuse it, so
                # skipping it would frame a body otherwise than a front end passing it on.
                size_text, _, extension = line[:-2].partition(b";")
                if _CHUNK_SIZE.fullmatch(size_text) is None:
                    raise HTTPError(400, "malformed chunk size")
                if _CHUNK_EXTENSION.fullmatch(extension) is None:
                    raise HTTPError(400, "malformed chunk extension")
                size = int(size_text, 16)
                if size == 0:
                    await _skip_trailers(reader, max_trailer_bytes)
                    return
                total += size
                if limit and total > limit:
                    raise HTTPError(413, f"request body larger than max_request_bytes={limit}")
                while size:
                    data = await reader.read(min(size, CHUNK))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", size)
                    size -= len(data)
                    if conn is not None:
                        conn.disarm()
                    yield data
                    if conn is not None:
                        conn.arm(read_timeout)
                if await reader.readexactly(2) != b"\r\n":
                    raise HTTPError(400, "malformed chunk")
                if conn is not None:
                    conn.disarm()
        else:
            remaining = -1 if length is None else length
            while remaining:
                if conn is not None:
                    conn.arm(read_timeout)
                data = await reader.read(CHUNK if remaining < 0 else min(remaining, CHUNK))
                if conn is not None:
                    conn.disarm()
                if not data:
                    if remaining < 0:
                        return
                    raise asyncio.IncompleteReadError(b"", remaining)
                if remaining > 0:
                    remaining -= len(data)
                yield data
    finally:
        if conn is not None:
            conn.disarm()


async def _skip_trailers(reader: asyncio.StreamReader, limit: int) -> None:
    """Read the trailer section up to its empty line: each field well-formed, all of them
    within `limit` bytes."""
    total = 0
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise HTTPError(431, "trailer fields too large") from None
        if line == b"\r\n":
            return
        total += len(line)
        if total > limit:
            raise HTTPError(431, "trailer fields too large")
        field = _TRAILER_LINE.fullmatch(line[:-2])
        if field is None:
            raise HTTPError(400, "malformed trailer field")
        if field.group(1).lower() in _FRAMING_FIELDS:
            raise HTTPError(400, "framing field in trailers")
