"""Small ASGI helpers every HTTP-facing layer shares: header lookup, body reading, replies.

A leaf: imports nothing of the gateway but `errors`.
"""

from __future__ import annotations

from starlette.types import Receive, Send

from gateway.errors import BadRequest, PayloadTooLarge

MAX_API_BODY_BYTES = 1024 * 1024
"""The largest body the platform's own JSON endpoints (`/system/...`) read."""

Headers = list[tuple[bytes, bytes]]
"""ASGI request headers: lower-case names, as servers deliver them."""


class ClientDisconnected(Exception):
    """The caller went away while its body was being read: nobody is left to answer."""


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header `name` (lower-case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def content_length(headers: Headers) -> int | None:
    """The declared Content-Length; `BadRequest` if it is not a number."""
    value = header(headers, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid Content-Length {value.decode('latin-1')!r}") from None


async def read_body(receive: Receive) -> bytes:
    """The whole request body; `ClientDisconnected` if the caller leaves first."""
    chunks: list[bytes] = []
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunks.append(message.get("body", b""))
        more_body = message.get("more_body", False)
    return b"".join(chunks)


async def read_bounded_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with `PayloadTooLarge` as soon as it is declared
    or read past `limit` bytes (never buffered beyond it); `ClientDisconnected` if the
    caller leaves first."""
    declared = content_length(headers)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: larger than {limit} bytes")
        chunks.append(chunk)
        more_body = message.get("more_body", False)
    return b"".join(chunks)


async def send_response(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Send a whole response; `headers` gets its Content-Length here."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
