"""Routing rule 3: a function named by the request's host name (README, "Routing").

- A custom domain (`com.faas.domain` on the function): that exact host reaches it.
- Under the functions domain (`GATEWAY_FUNCTIONS_DOMAIN`, e.g. `faas.local`):
  `<name>.<domain>` reaches function `<name>`; `<version>.<name>.<domain>` one version of
  it; `<name>.<namespace>.<domain>` and `<version>.<name>.<namespace>.<domain>` spell the
  namespace, which must be the gateway's (404 otherwise, as at the other doors). With two
  labels, the second is the namespace when it is the gateway's, else the function's name.

Any other host is one of the gateway's own names. The host is read case-insensitively,
without its port or a final dot; a `Host` longer than a DNS name or not made of DNS-like
labels is a 400 (`_` is allowed: Docker's service names have it). An IP literal is always
the gateway's own. Lookups are dict gets on the provider's in-memory view: nothing is
created or started here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import BadRequest, GatewayError, NoRoute
from gateway.labels import MAX_HOST_NAME_LENGTH

HOST_HEADER = b"host"
_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_IPV6_LITERAL = re.compile(r"\[[0-9a-f:.]+\](?::[0-9]{1,5})?", re.ASCII)

DomainLookup = Callable[[str], "str | None"]
"""The name of the function a custom domain reaches, if any (in memory, no I/O)."""


def request_host(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The request's host name, lower-case, without port or final dot; None without a
    `Host` or for an IP literal (`[::1]`); `BadRequest` for a host that is no name."""
    for header, value in headers:
        if header == HOST_HEADER:
            return parse_request_host(value)
    return None


def parse_request_host(value: bytes) -> str | None:
    """`request_host` for one `Host` value."""
    text = value.decode("latin-1").strip().lower()
    if _IPV6_LITERAL.fullmatch(text):
        return None
    name, colon, port = text.rpartition(":")
    if not colon or not _PORT.fullmatch(port):
        name = text
    if name.endswith("."):
        name = name[:-1]
    if len(name) > MAX_HOST_NAME_LENGTH:
        raise BadRequest(f"Host header longer than {MAX_HOST_NAME_LENGTH} characters")
    if _HOST.fullmatch(name) is None:
        shown = text if len(text) <= 64 else text[:64] + "..."
        raise BadRequest(f"Host header {shown!r} is not a valid host name")
    return name


@dataclass(frozen=True)
class HostRoutes:
    """The host rule's parts: the functions domain (None: none), the custom domains'
    lookup and the gateway's namespace."""

    domain: str | None
    by_domain: DomainLookup
    namespace: str
    is_namespace: Callable[[str], bool] | None = None
    """Whether a label names a namespace (the default one aside), when there are others."""

    def function_name(self, host: str) -> str | None:
        """The function `host` names, spelled as `gateway.calls.Calls` reads names
        (`<name>@<version>`, `<name>.<namespace>`); None for the gateway's own hosts;
        `NoRoute` for more labels under the functions domain than any spelling has."""
        name = self.by_domain(host)
        if name is not None:
            return name
        domain = self.domain
        if domain is None or not host.endswith(domain):
            return None
        end = len(host) - len(domain) - 1
        if end <= 0 or host[end] != ".":
            return None
        labels = host[:end].split(".")
        if len(labels) == 1:
            return labels[0]
        if len(labels) == 2:
            first, second = labels
            spaced = second == self.namespace or (self.is_namespace and self.is_namespace(second))
            return f"{first}.{second}" if spaced else f"{second}@{first}"
        if len(labels) == 3:
            version, name, namespace = labels
            return f"{name}.{namespace}@{version}"
        raise NoRoute(
            f"host {host!r} names no function: use <name>.{domain}, "
            f"<version>.<name>.{domain} or <name>.<namespace>.{domain}"
        )

    def claims(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """Whether a request is a function's whatever its path: its host names one (or
        is invalid, which the function door answers with its 400 or 404)."""
        try:
            host = request_host(headers)
            return host is not None and self.function_name(host) is not None
        except GatewayError:
            return True
