"""The web console: static files served at `/ui/`, behind the management API's basic auth.

The page (`static/`: plain ES modules, no build step, nothing loaded from elsewhere) talks
only to the gateway: `/system/*` for functions, stats, logs, scaling and deploys, and
`/function/<name>` to invoke. The browser's own basic-auth prompt is the login; the same
realm covers `/system`, so the browser sends the credentials there too. README.md,
"Web console", shows it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import BasicAuthCredentials
from gateway.http_errors import ErrorFormat
from gateway.management.auth import RequireBasicAuth

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/ui"

# Everything the page loads comes from the gateway itself; no framing, no inline code.
_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidated on every load (ETag): a new gateway's console is seen at once.
    (b"cache-control", b"no-cache"),
)


def is_console_path(path: str) -> bool:
    """Whether `path` is the console's (`/ui` or below)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class _ConsoleHeaders:
    """Adds the console's security headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_console_app(credentials: BasicAuthCredentials | None) -> ASGIApp:
    """The static console, to mount at `PREFIX`; closed (503) without credentials, as
    `/system` is."""
    files = StaticFiles(directory=STATIC, html=True)
    guarded = RequireBasicAuth(
        files, credentials, what="web console", error_format=ErrorFormat.TEXT
    )
    return _ConsoleHeaders(guarded)
