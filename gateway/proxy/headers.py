"""Which headers cross the gateway, in each direction, and which it adds.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message, so
neither direction forwards them; the connection's own framing is redone on each side.

The gateway is the edge: what a caller says about the connection (`X-Forwarded-Host`,
`X-Forwarded-Proto`, `Forwarded`, `X-Real-IP`) is replaced by what the gateway saw, so a
function can trust those headers. `X-Forwarded-For` is the exception: the peer is
appended, and the last entry is the one the gateway vouches for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from multidict import CIMultiDict

from gateway.errors import BadRequest, LoopDetected
from gateway.proxy.call_ids import new_call_id

CALL_ID = "X-Call-Id"
_CALL_ID_LOWER = b"x-call-id"
HOPS = "X-Faas-Hops"
_HOPS_LOWER = b"x-faas-hops"
MAX_HOPS = 10
"""Passes through a gateway one call may make; the next one is answered `508`."""

HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Replaced on the way in (Host names the function's upstream; the forwarding headers are
# the gateway's to set) and out (uvicorn writes its own Date). `Expect: 100-continue` was
# already answered to the caller by uvicorn; passed on, it would make a client wait for a
# 100 that a replica need not send. `Proxy` would become HTTP_PROXY in a CGI-style
# environment (httpoxy). `X-Function` has routed the call already: passed on to a replica
# that forwards to the gateway, it would route there again, round and round.
_REQUEST_DROPPED = HOP_BY_HOP | {
    b"host",
    b"expect",
    b"proxy",
    b"x-function",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"forwarded",
    b"x-real-ip",
}
_START_TIME = b"x-start-time"
_DURATION = b"x-duration-seconds"
# The gateway's own: a replica's copies (the watchdog times its part of the call) give way.
_RESPONSE_DROPPED = HOP_BY_HOP | {b"date", _CALL_ID_LOWER, _START_TIME, _DURATION}


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Extra hop-by-hop names a `Connection` header lists (e.g. `Connection: X-Trace`)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


RawHeaders = list[tuple[bytes, bytes]]
"""Headers as the bytes that go on the wire, names as they are sent."""

_REQUEST_READ = _REQUEST_DROPPED | {b"x-forwarded-for", _CALL_ID_LOWER, _HOPS_LOWER}


def upstream_request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    upstream_host: str,
    client_address: str | None,
    scheme: str,
) -> tuple[CIMultiDict[str], str]:
    """Headers to send to a replica, and the call id (the caller's, or a new one).

    `forwarded_request_headers` as a `CIMultiDict` of text (for calls made off the hot
    path, e.g. by the queue worker). Raises as it does.
    """
    raw, call_id = forwarded_request_headers(
        headers, upstream_host=upstream_host, client_address=client_address, scheme=scheme
    )
    return CIMultiDict([(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]), call_id


def forwarded_request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    upstream_host: str,
    client_address: str | None,
    scheme: str,
) -> tuple[RawHeaders, str]:
    """Headers to send to a replica as bytes, and the call id (the caller's, or a new one).

    `headers` are the ASGI request headers (lower-case names, as servers deliver them).
    `X-Faas-Hops` counts the passes through a gateway: `LoopDetected` when this one would
    exceed `MAX_HOPS`, `BadRequest` when the caller's value is not a number.
    """
    dropped, read = _REQUEST_DROPPED, _REQUEST_READ
    for name, _ in headers:
        if name == b"connection":
            tokens = _connection_tokens(headers)
            dropped, read = dropped | tokens, read | tokens
            break
    out: RawHeaders = []
    original_host = b""
    forwarded_for = b""
    call_id = b""
    hops = 0
    for name, value in headers:
        if name not in read:
            out.append((name, value))
        elif name == b"host":
            original_host = value
        elif name in dropped:
            pass
        elif name == b"x-forwarded-for":
            forwarded_for = forwarded_for + b", " + value if forwarded_for else value
        elif name == _CALL_ID_LOWER:
            call_id = call_id or value
        else:  # X-Faas-Hops
            hops = max(hops, _hop_count(value))
    if hops >= MAX_HOPS:
        raise LoopDetected(
            f"loop detected: the call has passed through the gateway {hops} times "
            f"({HOPS}, at most {MAX_HOPS}); does a function's upstream lead back to the gateway?"
        )
    call_text = call_id.decode("latin-1") if call_id else new_call_id()
    out.append((b"Host", upstream_host.encode("latin-1")))
    if client_address:
        address = client_address.encode("latin-1")
        forwarded_for = forwarded_for + b", " + address if forwarded_for else address
        out.append((b"X-Real-IP", address))
    if forwarded_for:
        out.append((b"X-Forwarded-For", forwarded_for))
    if original_host:
        out.append((b"X-Forwarded-Host", original_host))
    out.append((b"X-Forwarded-Proto", scheme.encode("latin-1")))
    out.append((b"X-Faas-Hops", b"%d" % (hops + 1)))
    out.append((b"X-Call-Id", call_id or call_text.encode("latin-1")))
    return out, call_text


def _hop_count(value: bytes) -> int:
    """A caller's `X-Faas-Hops` value; a huge number counts as a loop, not as an error."""
    value = value.strip()
    if not value.isdigit():  # bytes: ASCII digits only
        raise BadRequest(f"invalid {HOPS} {value.decode('latin-1')!r}: a number of hops")
    digits = value.lstrip(b"0")
    return int(digits or b"0") if len(digits) <= 4 else MAX_HOPS


def downstream_response_headers(
    raw_headers: Iterable[tuple[bytes, bytes]], call_id: str, started_ns: int = 0
) -> list[tuple[bytes, bytes]]:
    """ASGI response headers from a replica's raw headers, plus what the OpenFaaS gateway
    adds to every answer: the call id and, given when the call arrived (`time.time_ns()`),
    `X-Start-Time` (Unix nanoseconds) and `X-Duration-Seconds` (until the replica's head)."""
    out: list[tuple[bytes, bytes]] = []
    tokens: frozenset[bytes] = frozenset()
    for name, value in raw_headers:
        lower = name.lower()
        if lower == b"connection":
            tokens |= _connection_tokens(((lower, value),))
        if lower not in _RESPONSE_DROPPED:
            out.append((lower, value))
    if tokens:
        out = [(name, value) for name, value in out if name not in tokens]
    out.append((_CALL_ID_LOWER, call_id.encode("latin-1")))
    if started_ns:
        out.append((_START_TIME, b"%d" % started_ns))
        out.append((_DURATION, b"%f" % ((time.time_ns() - started_ns) / 1e9)))
    return out
