"""Which callback URLs an async call may name (`X-Callback-Url`).

The queue consumer POSTs each result to its call's callback URL from inside the cluster,
so an unchecked URL would let any caller make requests into the cluster (SSRF). A URL
is allowed when it starts with one of the configured prefixes (by default the
gateway's own `/function/` path) compared part by part: scheme, host and port exactly,
the path by whole segments, and no `.`/`..` segments or user info that could step
outside the prefix.

A callback to the gateway's own functions carries the invoke credentials when
`GATEWAY_INVOKE_AUTH` is on (`callback_authorization`), else it would get a 401.
"""

from __future__ import annotations

import base64
from urllib.parse import SplitResult, unquote, urlsplit

from gateway.config import AsyncConfig, BasicAuthCredentials
from gateway.errors import BadRequest

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None


def callback_allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `url` falls under one of `prefixes`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc:
        return False
    if any(character.isspace() or ord(character) < 32 for character in url):
        return False
    segments = unquote(parts.path).split("/")
    if any(segment in (".", "..") for segment in segments) or "\\" in unquote(parts.path):
        return False
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        if (
            allowed.scheme == parts.scheme
            and allowed.hostname == parts.hostname
            and _port(allowed) == _port(parts)
            and _path_under(parts.path, allowed.path)
        ):
            return True
    return False


def _path_under(path: str, prefix: str) -> bool:
    if not prefix or prefix == "/":
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def check_callback(url: str, prefixes: tuple[str, ...]) -> str:
    """`url` if allowed; `BadRequest` naming the allowed prefixes otherwise."""
    if not callback_allowed(url, prefixes):
        raise BadRequest(
            f"X-Callback-Url {url[:200]!r} is not allowed: it must start with one of "
            f"{', '.join(prefixes)} (GATEWAY_ASYNC_CALLBACK_ALLOWLIST)"
        )
    return url


def callback_authorization(
    url: str, config: AsyncConfig, credentials: BasicAuthCredentials | None
) -> str | None:
    """The `Authorization` a callback to `url` carries: the invoke credentials when the
    gateway requires them (`GATEWAY_INVOKE_AUTH`) and `url` is one of this gateway's
    functions (`<gateway_url>/function/...`), else None. The caller of an async call had
    to show those credentials already, and no other path of the gateway gets them."""
    if credentials is None:
        return None
    if not callback_allowed(url, (config.gateway_url.rstrip("/") + "/function/",)):
        return None
    token = f"{credentials.user}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")
