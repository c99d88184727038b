"""What `/system` and `/ui` do differently for browsers: refuse requests made by other
sites, and never ask a browser for basic credentials.

Functions answer on the gateway's own origin (`/function/<name>`), so a function's page
runs with the console's origin; other sites may post forms to it. The rules, explained
in docs/security.md ("The web console"):

- `SameOriginOnly` refuses (403) a request a browser marks as made by another site
  (`Sec-Fetch-Site: cross-site` or `same-site`) or whose `Origin` is not the request's
  own `scheme://host[:port]`. Command-line clients send neither header and pass. For the
  console, a link followed from another site passes (`top_level_navigation`): its pages
  are static, carry no credentials and may not be framed, so opening one does nothing.
- `from_browser` tells `RequireBasicAuth` to leave out its `WWW-Authenticate` challenge:
  a browser that never saw a challenge never keeps basic credentials for the origin, so
  nothing sends them for a page that did not write them itself. The console sends
  its own `Authorization` on every call.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.asgi import Headers, header
from gateway.errors import Forbidden
from gateway.http_errors import ErrorFormat, send_error

_OTHER_SITES = frozenset({b"cross-site", b"same-site"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}


def from_browser(headers: Headers) -> bool:
    """Whether a browser sent the request: every current one adds `Sec-Fetch-Mode`."""
    return header(headers, b"sec-fetch-mode") is not None


def own_origin(scope: Scope) -> str:
    """The request's own origin, `scheme://host[:port]` (lower-case, default port left
    out), from its `Host` header or else the server's address."""
    host = header(scope["headers"], b"host")
    if host is not None:
        authority = host.decode("latin-1")
    else:
        server = scope.get("server") or ("", None)
        authority = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return _normalised(str(scope.get("scheme", "http")), authority)


def cross_site_problem(scope: Scope) -> str | None:
    """Why a request must be refused as made by another site, or None if it may pass."""
    headers = scope["headers"]
    site = header(headers, b"sec-fetch-site")
    if site is not None and site.strip().lower() in _OTHER_SITES:
        return f"the browser marks it Sec-Fetch-Site: {site.decode('latin-1')}"
    origin = header(headers, b"origin")
    if origin is None:
        return None
    given = origin.decode("latin-1").strip()
    scheme, separator, authority = given.partition("://")
    expected = own_origin(scope)
    if not separator or "/" in authority or _normalised(scheme, authority) != expected:
        return f"its Origin {given!r} is not the gateway's own {expected!r}"
    return None


def top_level_navigation(scope: Scope) -> bool:
    """Whether the request opens a page in a browser tab (a link followed, an address
    typed): a GET or HEAD the browser marks `Sec-Fetch-Mode: navigate` and
    `Sec-Fetch-Dest: document` (not a frame, an image or a script)."""
    headers = scope["headers"]
    return (
        scope.get("method") in ("GET", "HEAD")
        and header(headers, b"sec-fetch-mode") == b"navigate"
        and header(headers, b"sec-fetch-dest") == b"document"
    )


class SameOriginOnly:
    """ASGI middleware: 403 for requests another site made (`cross_site_problem`), except,
    with `allow_navigation`, a page opened from another site's link."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        what: str,
        error_format: ErrorFormat,
        allow_navigation: bool = False,
    ) -> None:
        self.app = app
        self.what = what
        self.error_format = error_format
        self.allow_navigation = allow_navigation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not (self.allow_navigation and top_level_navigation(scope)):
            problem = cross_site_problem(scope)
            if problem is not None:
                refused = Forbidden(
                    f"{self.what}: cross-site request refused ({problem}); open the "
                    "console at its own address, or call the API from a client that "
                    "sends no Origin"
                )
                await send_error(send, refused, self.error_format)
                return
        await self.app(scope, receive, send)


def _normalised(scheme: str, authority: str) -> str:
    scheme, authority = scheme.lower(), authority.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and authority.endswith(default_port):
        authority = authority[: -len(default_port)]
    return f"{scheme}://{authority}"
