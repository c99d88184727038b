"""Which headers cross the gateway, in each direction, and which it adds.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message, so
neither direction forwards them; the connection's own framing is redone on each side.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from multidict import CIMultiDict

CALL_ID = "X-Call-Id"
_CALL_ID_LOWER = b"x-call-id"

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

# Replaced on the way in (Host names the function's upstream) and out (uvicorn writes its
# own Date). `Expect: 100-continue` was already answered to the caller by uvicorn; passed
# on, it would make aiohttp wait for a 100 that a replica need not send.
_REQUEST_DROPPED = HOP_BY_HOP | {b"host", b"expect"}
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
    """
    tokens = _connection_tokens(headers)
    dropped = _REQUEST_DROPPED | tokens if tokens else _REQUEST_DROPPED
    out: CIMultiDict[str] = CIMultiDict()
    original_host = ""
    forwarded_for = ""
    call_id = ""
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
        out.add(raw_name.decode("latin-1"), value)
    call_id = call_id or str(uuid.uuid4())
    out["Host"] = upstream_host
    if client_address:
        forwarded_for = f"{forwarded_for}, {client_address}" if forwarded_for else client_address
    if forwarded_for:
        out["X-Forwarded-For"] = forwarded_for
    # A proxy in front of the gateway knows the original host and scheme better than we do.
    if "x-forwarded-host" not in out and original_host:
        out["X-Forwarded-Host"] = original_host
    if "x-forwarded-proto" not in out:
        out["X-Forwarded-Proto"] = scheme
    out[CALL_ID] = call_id
    return out, call_id


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
