"""Bounds on a replica's response head, the same kinds a client's request head has.

A function is not trusted to answer sensibly (docs/security.md), so what it sends before
its body is bounded like a request head (`gateway.http_limits`); `gateway.proxy.forwarder`
sets the first three from the gateway's own head limits (`GATEWAY_MAX_HEAD_BYTES`,
`GATEWAY_MAX_HEADERS`, `GATEWAY_HEAD_TIMEOUT`):

- `max_bytes`: the bytes of the head, status lines and fields, interim answers included;
  no single field has a bound of its own beyond this one;
- `max_fields`: header fields in one head;
- `timeout`: seconds from a head's first byte to its end (the time before it starts is
  the function's to work in, bounded by the whole call's `upstream_timeout`, and so is
  the time between an interim answer and the next head);
- `max_interim`: interim (1xx) answers before the final one.

`gateway.proxy.http1.connection.Response` enforces them, and a head that crosses one is
`ResponseHeadRefused` with the reason given here.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_INTERIM_RESPONSES = 10
"""Interim (1xx) answers one response may have: `100 Continue` and `103 Early Hints` come
once or twice, never in numbers."""


@dataclass(frozen=True, slots=True)
class ResponseHeadLimits:
    """What a replica's response head may take (see the module docstring)."""

    max_bytes: int = 64 * 1024
    max_fields: int = 100
    timeout: float = 10.0
    max_interim: int = MAX_INTERIM_RESPONSES

    def too_large(self) -> str:
        """Why a head over `max_bytes` is refused."""
        return f"a response head over {_size(self.max_bytes)}"

    def too_many_fields(self) -> str:
        """Why a head with more than `max_fields` fields is refused."""
        return f"more than {self.max_fields} header fields"

    def too_slow(self) -> str:
        """Why a head not complete within `timeout` is refused."""
        return f"a response head not complete within {self.timeout:g}s of its first byte"

    def too_many_interim(self) -> str:
        """Why an answer with more than `max_interim` interim answers is refused."""
        return f"more than {self.max_interim} interim (1xx) responses"


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"
