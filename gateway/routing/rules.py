"""Routing rules 1 and 2: a function named by the path or a header (no I/O, no provider).

Precedence, first match wins (rule 3, the host name, is `gateway.routing.hosts`; rule 4,
the Alexa body sniff, `gateway.routing.alexa`; `gateway.routing.resolve` applies all four
in order):
1. `/function/<name>` or `/function/<name>/<rest>`: `/<rest>` and the query go upstream.
2. Any other path with an `X-Function: <name>` header: the whole path and query go upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from gateway.errors import BadRequest

FUNCTION_PREFIX = b"/function/"
_FUNCTION_ROOT = b"/function"
FUNCTION_HEADER = b"x-function"


@dataclass(frozen=True)
class Target:
    """A function name as the caller spelled it, the path + query to send it, and the
    request body when routing had to read it (Alexa), else None."""

    name: str
    path: str
    body: bytes | None = None


def target_from_path(raw_path: bytes, query: bytes) -> Target | None:
    """Rule 1: the target of a `/function/<name>[/<rest>]` path, or None for other paths.

    `raw_path` is the path as sent (still percent-encoded), so `<rest>` reaches the
    function byte for byte.
    """
    if not raw_path.startswith(FUNCTION_PREFIX):
        if raw_path == _FUNCTION_ROOT:
            raise BadRequest("missing function name: use /function/<name>")
        return None
    name_part, slash, rest = raw_path[len(FUNCTION_PREFIX) :].partition(b"/")
    name = unquote(name_part.decode("latin-1"))
    if not name:
        raise BadRequest("missing function name: use /function/<name>")
    return Target(name, upstream_path(slash + rest or b"/", query))


def target_from_header(
    headers: list[tuple[bytes, bytes]], raw_path: bytes, query: bytes
) -> Target | None:
    """Rule 2: the target named by an `X-Function` header, or None without one."""
    for header, value in headers:
        if header == FUNCTION_HEADER:
            name = value.decode("latin-1").strip()
            if not name:
                raise BadRequest("empty X-Function header: it must name a function")
            return Target(name, upstream_path(raw_path or b"/", query))
    return None


def upstream_path(path: bytes, query: bytes) -> str:
    """The request target sent upstream: `path` (still percent-encoded) and the query."""
    text = path.decode("latin-1")
    return f"{text}?{query.decode('latin-1')}" if query else text
