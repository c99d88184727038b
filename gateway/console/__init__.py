"""The web console: static files served at `/ui/`; its data comes from `/system`.

The page (`static/`: plain ES modules, no build step, nothing loaded from elsewhere) talks
only to the gateway: `/system/*` for functions, stats, logs, scaling and deploys, and
`/function/<name>` to invoke. The files hold no data, so they load without credentials
(503 while the gateway has none configured, as `/system`). The page asks for the user
and password in its own form, keeps them in memory only and sends `Authorization` on
every call itself: the browser never keeps basic credentials for the origin, which
function pages share (docs/security.md, "The web console"). README.md, "Web console",
shows it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import BasicAuthCredentials
from gateway.errors import Disabled
from gateway.http_errors import ErrorFormat, send_error

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/ui"

# Everything the page loads comes from the gateway itself; no framing, no inline code; a
# function's page that opens the console gets no handle on its window.
_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidated on every load (ETag): a new gateway's console is seen at once.
    (b"cache-control", b"no-cache"),
)


def is_console_path(path: str) -> bool:
    """Whether `path` is the console's (`/ui` or below)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class _ConsoleHeaders:
    """Adds the console's security headers to every answer of the wrapped app, its errors
    included (StaticFiles raises them: answered outside, they would go without)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except HTTPException as error:
            answer = PlainTextResponse(f"{error.detail}\n", error.status_code, error.headers)
            await answer(scope, receive, send_with_headers)


async def _closed(scope: Scope, receive: Receive, send: Send) -> None:
    disabled = Disabled(
        "web console disabled: no credentials configured "
        "(set GATEWAY_BASIC_AUTH_USER_FILE and GATEWAY_BASIC_AUTH_PASSWORD_FILE)"
    )
    await send_error(send, disabled, ErrorFormat.TEXT)


def create_console_app(credentials: BasicAuthCredentials | None) -> ASGIApp:
    """The static console, to mount at `PREFIX`; closed (503) without credentials, as
    `/system` is."""
    if credentials is None:
        return _ConsoleHeaders(_closed)
    return _ConsoleHeaders(StaticFiles(directory=STATIC, html=True))
