"""The one place a `GatewayError` becomes an HTTP response.

The format depends on the surface, not on the error: function calls get the message as
one plain-text line (what a caller of a function reads, as the OpenFaaS gateway does),
the management API under /system gets JSON `{"error": "<message>"}`. The status is
always `errors.status_code`'s; an `Unauthorized` with a realm also carries its basic-auth
challenge. `exception_handlers` hands the same rendering to a Starlette app, so its
endpoints raise and never catch.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Send

from gateway.asgi import ClientDisconnected, Headers, send_response
from gateway.errors import GatewayError, Unauthorized, status_code


class ErrorFormat(enum.Enum):
    """How a surface writes its errors."""

    TEXT = "text"  # function calls
    JSON = "json"  # the management API


def render_error(
    error: GatewayError, error_format: ErrorFormat, call_id: str | None = None
) -> tuple[int, Headers, bytes]:
    """Status, headers (without Content-Length) and body for `error`."""
    if error_format is ErrorFormat.JSON:
        body = json.dumps({"error": error.message}).encode()
        headers = [(b"content-type", b"application/json")]
    else:
        body = f"{error.message}\n".encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if call_id:
        headers.append((b"x-call-id", call_id.encode("latin-1")))
    if isinstance(error, Unauthorized) and error.realm is not None:
        challenge = f'Basic realm="{error.realm}", charset="UTF-8"'
        headers.append((b"www-authenticate", challenge.encode()))
    return status_code(error), headers, body


async def send_error(
    send: Send, error: GatewayError, error_format: ErrorFormat, call_id: str | None = None
) -> None:
    """Answer `error` on a raw ASGI `send`."""
    status, headers, body = render_error(error, error_format, call_id)
    await send_response(send, status, headers, body)


def error_response(error: GatewayError, error_format: ErrorFormat) -> Response:
    """`error` as a Starlette response (for handlers that return one)."""
    status, headers, body = render_error(error, error_format)
    response = Response(body, status_code=status)
    for name, value in headers:
        response.headers[name.decode("latin-1")] = value.decode("latin-1")
    return response


def exception_handlers(error_format: ErrorFormat) -> dict[Any, Any]:
    """Starlette's `exception_handlers` for a surface: a `GatewayError` as `render_error`
    writes it; a caller gone while its body was read, a bare 400 (nobody reads it); any
    other exception a 500 with no detail of its own (Starlette raises it again once
    answered, so the server logs it with its traceback)."""

    async def gateway_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, GatewayError)
        return error_response(error, error_format)

    async def disconnected(request: Request, error: Exception) -> Response:
        return Response(status_code=400)

    async def unexpected(request: Request, error: Exception) -> Response:
        internal = GatewayError("internal error in the gateway (details in its log)")
        return error_response(internal, error_format)

    return {
        GatewayError: gateway_error,
        ClientDisconnect: disconnected,
        ClientDisconnected: disconnected,
        Exception: unexpected,
    }
