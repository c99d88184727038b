"""Which headers cross the gateway, in each direction, and which it adds.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message, so
neither direction forwards them; the connection's own framing is redone on each side.

The gateway is the edge: what a caller says about the connection (`X-Forwarded-Host`,
`X-Forwarded-Proto`, `Forwarded`, `X-Real-IP`) is replaced by what the gateway saw, so a
function can trust those headers. `X-Forwarded-For` is the exception: the peer is
appended, and the last entry is the one the gateway vouches for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from multidict import CIMultiDict

from gateway.errors import BadRequest, LoopDetected

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
_RESPONSE_DROPPED = HOP_BY_HOP | {b"date", _CALL_ID_LOWER}


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Extra hop-by-hop names a `Connection` header lists (e.g. `Connection: X-Trace`)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


def upstream_request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    upstream_host: str,
    client_address: str | None,
    scheme: str,
) -> tuple[CIMultiDict[str], str]:
    """Headers to send to a replica, and the call id (the caller's, or a new one).

    `headers` are the ASGI request headers (lower-case names, as servers deliver them).
    `X-Faas-Hops` counts the passes through a gateway: `LoopDetected` when this one would
    exceed `MAX_HOPS`, `BadRequest` when the caller's value is not a number.
    """
    tokens = _connection_tokens(headers)
    dropped = _REQUEST_DROPPED | tokens if tokens else _REQUEST_DROPPED
    out: CIMultiDict[str] = CIMultiDict()
    original_host = ""
    forwarded_for = ""
    call_id = ""
    hops = 0
    for raw_name, raw_value in headers:
        value = raw_value.decode("latin-1")
        if raw_name == b"host":
            original_host = value
        if raw_name in dropped:
            continue
        if raw_name == b"x-forwarded-for":
            forwarded_for = f"{forwarded_for}, {value}" if forwarded_for else value
            continue
        if raw_name == _CALL_ID_LOWER:
            call_id = call_id or value
            continue
        if raw_name == _HOPS_LOWER:
            hops = max(hops, _hop_count(raw_value))
            continue
        out.add(raw_name.decode("latin-1"), value)
    if hops >= MAX_HOPS:
        raise LoopDetected(
            f"loop detected: the call has passed through the gateway {hops} times "
            f"({HOPS}, at most {MAX_HOPS}); does a function's upstream lead back to the gateway?"
        )
    call_id = call_id or str(uuid.uuid4())
    out["Host"] = upstream_host
    if client_address:
        forwarded_for = f"{forwarded_for}, {client_address}" if forwarded_for else client_address
        out["X-Real-IP"] = client_address
    if forwarded_for:
        out["X-Forwarded-For"] = forwarded_for
    if original_host:
        out["X-Forwarded-Host"] = original_host
    out["X-Forwarded-Proto"] = scheme
    out[HOPS] = str(hops + 1)
    out[CALL_ID] = call_id
    return out, call_id


def _hop_count(value: bytes) -> int:
    """A caller's `X-Faas-Hops` value; a huge number counts as a loop, not as an error."""
    value = value.strip()
    if not value.isdigit():  # bytes: ASCII digits only
        raise BadRequest(f"invalid {HOPS} {value.decode('latin-1')!r}: a number of hops")
    digits = value.lstrip(b"0")
    return int(digits or b"0") if len(digits) <= 4 else MAX_HOPS


def downstream_response_headers(
    raw_headers: Iterable[tuple[bytes, bytes]], call_id: str
) -> list[tuple[bytes, bytes]]:
    """ASGI response headers from a replica's raw headers, plus the call id."""
    raw_headers = list(raw_headers)
    tokens = _connection_tokens(raw_headers)
    dropped = _RESPONSE_DROPPED | tokens if tokens else _RESPONSE_DROPPED
    out = [(name.lower(), value) for name, value in raw_headers if name.lower() not in dropped]
    out.append((_CALL_ID_LOWER, call_id.encode("latin-1")))
    return out
