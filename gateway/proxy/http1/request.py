"""A request's bytes: the head, and the body's framing.

The client adds nothing the caller did not send but the body's framing, the same framing
aiohttp's client added when the gateway used it (a replica sees the same headers): a
Content-Length for a buffered body that has none, `Content-Length: 0` for a call of a
method that carries a body but came without one, chunked encoding for a streamed body of
unknown length. Header values are the caller's bytes (decoded as latin-1, encoded back).
"""

from __future__ import annotations

from multidict import CIMultiDict

from gateway.proxy.upstream import RequestHeaders

# Methods that carry no body by convention: without one, no Content-Length is added.
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CHUNKED_END = b"0\r\n\r\n"


class InvalidRequest(ValueError):
    """A request line or header that would split the request (CR or LF in it)."""


def request_head(
    method: str, path: str, headers: RequestHeaders, body: bytes | None, streamed: bool
) -> tuple[bytes, bool]:
    """The request's head, and whether its body goes chunked.

    `body`: a buffered body (or None); `streamed`: a body that follows in pieces.
    """
    raw = headers if isinstance(headers, list) else _encoded(headers)
    host: bytes | None = None
    has_length = False
    lines = [f"{method} {path} HTTP/1.1".encode("latin-1"), b""]
    for name, value in raw:
        lower = name.lower()
        if lower == b"host":
            if host is None:
                host = value
            continue
        if lower == b"content-length":
            has_length = True
        lines.append(name + b": " + value)
    if host is not None:
        lines[1] = b"Host: " + host
    else:
        del lines[1]
    chunked = False
    if not has_length:
        if streamed:
            chunked = True
            lines.append(b"Transfer-Encoding: chunked")
        elif body is not None:
            lines.append(b"Content-Length: %d" % len(body))
        elif method not in BODYLESS_METHODS:
            lines.append(b"Content-Length: 0")
    head = b"\r\n".join(lines)
    breaks = len(lines) - 1
    if head.count(b"\r") != breaks or head.count(b"\n") != breaks:
        raise InvalidRequest("CR or LF in the request line or a header")
    return head + b"\r\n\r\n", chunked


def _encoded(headers: CIMultiDict[str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def chunk_prefix(size: int) -> bytes:
    """The size line that starts a chunk of `size` bytes in chunked encoding."""
    return b"%x\r\n" % size
