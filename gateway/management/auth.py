"""HTTP basic auth for the management API (and, when configured, for invocations).

`RequireBasicAuth` wraps an ASGI app: requests without the configured credentials get
`401` with a `WWW-Authenticate` challenge, except requests from a browser
(`gateway.management.browsers.from_browser`) unless `challenge_browsers`: a browser that
is never challenged never keeps the credentials for the origin. With no credentials
configured the wrapped app stays closed (`503`): an unconfigured gateway never exposes
`/system`. Both answers are written by `gateway.http_errors` in the format of the surface
it guards.
`without_credentials` and `without_authorization` keep those credentials from ever
reaching a function (gateway/README.md states the rule).
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
from gateway.management.browsers import from_browser

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
        challenge_browsers: bool = False,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.what = what
        self.error_format = error_format
        self.challenge_browsers = challenge_browsers

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
            challenge = self.challenge_browsers or not from_browser(scope["headers"])
            unauthorized = Unauthorized(
                f"{self.what}: {problem} (HTTP basic auth)", REALM if challenge else None
            )
            await send_error(send, unauthorized, self.error_format)
            return
        await self.app(scope, receive, send)


def without_credentials(headers: Headers, credentials: BasicAuthCredentials) -> Headers:
    """`headers` less every Authorization header that may carry the gateway's credentials
    (`may_carry_credentials`).

    They open /system: a function must never see them, however a caller spelled them.
    Other Authorization headers are the function's business and pass through.
    """
    if header(headers, b"authorization") is None:
        return headers  # the common case: no copy on the hot path
    return [
        (name, value)
        for name, value in headers
        if name != b"authorization" or not may_carry_credentials(value, credentials)
    ]


def without_authorization(headers: Headers) -> Headers:
    """`headers` less every Authorization header: with GATEWAY_INVOKE_AUTH on, a call's
    Authorization is the gateway's (it was checked at the door) and never the function's."""
    if header(headers, b"authorization") is None:
        return headers
    return [(name, value) for name, value in headers if name != b"authorization"]


def may_carry_credentials(value: bytes, credentials: BasicAuthCredentials) -> bool:
    """Whether an Authorization header value must be kept from a function.

    A rule on what the value could mean to any parser, not on what ours reads: any value
    whose scheme is Basic in any spelling (any case, whatever follows the five letters)
    unless it is exactly one canonical base64 token, after spaces or tabs, that decodes to
    `user:password` with neither the gateway's user nor its password. Other schemes
    (Bearer, Digest, ...) are not the gateway's and pass.
    """
    value = value.strip(b" \t")
    if value[:5].lower() != b"basic":
        return False
    after_scheme = value[5:]
    token = after_scheme.lstrip(b" \t")
    if not token or len(token) == len(after_scheme) or b" " in token or b"\t" in token:
        return True  # `Basicxyz`, `Basic` alone, `Basic a b`: read differently elsewhere
    try:
        decoded = base64.b64decode(token, validate=True)
    except binascii.Error:
        return True
    if base64.b64encode(decoded) != token:
        return True  # padding left out or stray: lenient decoders may still read it
    user, colon, password = decoded.partition(b":")
    if not colon:
        return True
    # The gateway's user with any password (a mistyped or old one), or its password
    # under any user name: both are the gateway's secrets, not the function's.
    user_is_ours = hmac.compare_digest(user, credentials.user.encode())
    password_is_ours = hmac.compare_digest(password, credentials.password.encode())
    return user_is_ours | password_is_ours
