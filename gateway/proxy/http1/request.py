"""A request's bytes: the head, and the body's framing.

The client adds nothing the caller did not send but the body's framing, the same framing
aiohttp's client added when the gateway used it (a replica sees the same headers): a
Content-Length for a buffered body that has none, `Content-Length: 0` for a call of a
method that carries a body but came without one, chunked encoding for a streamed body of
unknown length. Header values are the caller's bytes (decoded as latin-1, encoded back).
"""

from __future__ import annotations

from multidict import CIMultiDict

# Methods that carry no body by convention: without one, no Content-Length is added.
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CHUNKED_END = b"0\r\n\r\n"


class InvalidRequest(ValueError):
    """A request line or header that would split the request (CR or LF in it)."""


def request_head(
    method: str, path: str, headers: CIMultiDict[str], body: bytes | None, streamed: bool
) -> tuple[bytes, bool]:
    """The request's head, and whether its body goes chunked.

    `body`: a buffered body (or None); `streamed`: a body that follows in pieces.
    """
    lines = [f"{method} {path} HTTP/1.1"]
    host = headers.get("Host")
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in headers.items():
        if name != "Host" and name.lower() != "host":
            lines.append(f"{name}: {value}")
    chunked = False
    if "Content-Length" not in headers:
        if streamed:
            chunked = True
            lines.append("Transfer-Encoding: chunked")
        elif body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif method not in BODYLESS_METHODS:
            lines.append("Content-Length: 0")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if text.count("\r") != breaks or text.count("\n") != breaks:
        raise InvalidRequest("CR or LF in the request line or a header")
    return (text + "\r\n\r\n").encode("latin-1"), chunked


def chunk_prefix(size: int) -> bytes:
    """The size line that starts a chunk of `size` bytes in chunked encoding."""
    return b"%x\r\n" % size
