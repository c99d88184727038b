"""HTTP basic auth for the management API (and, when configured, for invocations).

`RequireBasicAuth` wraps an ASGI app: requests without the configured credentials get
`401` with a `WWW-Authenticate` challenge. With no credentials configured the wrapped app
stays closed (`503`): an unconfigured gateway never exposes `/system`.
Credentials are compared in constant time (`hmac.compare_digest`), user and password both
always compared, so a wrong user name takes as long as a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

REALM = "faas"


@dataclass(frozen=True)
class BasicAuthCredentials:
    """The one user name and password the gateway accepts."""

    user: str
    password: str = ""

    def __repr__(self) -> str:  # never print the password (config objects get logged)
        return f"BasicAuthCredentials(user={self.user!r}, password='***')"


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
        self, app: ASGIApp, credentials: BasicAuthCredentials | None, *, what: str
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.credentials is None:
            await _error(
                send, 503, f"{self.what} disabled: no credentials configured "
                "(set GATEWAY_BASIC_AUTH_USER_FILE and GATEWAY_BASIC_AUTH_PASSWORD_FILE)",
            )
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if not credentials_match(header, self.credentials):
            problem = "wrong user name or password" if header else "authentication required"
            await _error(send, 401, f"{self.what}: {problem} (HTTP basic auth)", challenge=True)
            return
        await self.app(scope, receive, send)


async def _error(send: Send, status: int, message: str, *, challenge: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if challenge:
        headers.append((b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
