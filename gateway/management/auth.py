"""HTTP basic auth for the management API (and, when configured, for invocations).

`RequireBasicAuth` wraps an ASGI app: requests without the configured credentials get
`401` with a `WWW-Authenticate` challenge. With no credentials configured the wrapped app
stays closed (`503`): an unconfigured gateway never exposes `/system`. Both answers are
written by `gateway.http_errors` in the format of the surface it guards.
`without_credentials` keeps those credentials from ever reaching a function.
Credentials are compared in constant time (`hmac.compare_digest`), user and password both
always compared, so a wrong user name takes as long as a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.asgi import Headers, header
from gateway.config import BasicAuthCredentials
from gateway.errors import Disabled, Unauthorized
from gateway.http_errors import ErrorFormat, send_error

REALM = "faas"


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None if there is none."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_match(header: str | None, credentials: BasicAuthCredentials) -> bool:
    """Whether `header` carries exactly `credentials` (constant-time comparison)."""
    given = parse_basic_authorization(header) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode(), credentials.user.encode())
    password_ok = hmac.compare_digest(given[1].encode(), credentials.password.encode())
    return bool(given[0]) and user_ok & password_ok


class RequireBasicAuth:
    """ASGI middleware: pass only HTTP requests that carry `credentials`."""

    def __init__(
        self,
        app: ASGIApp,
        credentials: BasicAuthCredentials | None,
        *,
        what: str,
        error_format: ErrorFormat = ErrorFormat.JSON,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.what = what
        self.error_format = error_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.credentials is None:
            disabled = Disabled(
                f"{self.what} disabled: no credentials configured "
                "(set GATEWAY_BASIC_AUTH_USER_FILE and GATEWAY_BASIC_AUTH_PASSWORD_FILE)"
            )
            await send_error(send, disabled, self.error_format)
            return
        value = header(scope["headers"], b"authorization")
        given = None if value is None else value.decode("latin-1")
        if not credentials_match(given, self.credentials):
            problem = "wrong user name or password" if given else "authentication required"
            unauthorized = Unauthorized(f"{self.what}: {problem} (HTTP basic auth)", REALM)
            await send_error(send, unauthorized, self.error_format)
            return
        await self.app(scope, receive, send)


def without_credentials(headers: Headers, credentials: BasicAuthCredentials) -> Headers:
    """`headers` less an Authorization header carrying the gateway's own credentials.

    They open /system: a function must never see them (the CLI and callers under
    GATEWAY_INVOKE_AUTH send them with every call). Other Authorization headers are the
    function's business and pass through.
    """
    if header(headers, b"authorization") is None:
        return headers  # the common case: no copy on the hot path
    return [
        (name, value)
        for name, value in headers
        if name != b"authorization" or not credentials_match(value.decode("latin-1"), credentials)
    ]
