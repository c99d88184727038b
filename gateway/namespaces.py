"""Function namespaces, as OpenFaaS clients name them: `<name>.<namespace>`.

The gateway has one namespace (`GATEWAY_NAMESPACE`, `openfaas-fn` by default, the name
faas-cli appends): every function is in it, `GET /system/namespaces` lists it, and a name
or a `namespace` field/parameter naming any other is `NamespaceNotFound` (404). Docker
stack namespaces are not faas namespaces: a stack's prefix stays part of the service
name (`func_catservice`), reachable by its short name as before (docs/management.md).

Function names never contain a dot (Docker service names cannot), so a dot always starts
the namespace suffix. This module is the one place that reads it. The request path looks
a name up as it is first and only reads a suffix when that misses, so a name without one
costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway.errors import NamespaceNotFound

DEFAULT_NAMESPACE = "openfaas-fn"

T = TypeVar("T")


@dataclass(frozen=True)
class Namespaces:
    """The namespaces this gateway has: one, `default`."""

    default: str = DEFAULT_NAMESPACE

    @property
    def names(self) -> tuple[str, ...]:
        """Every namespace, as `GET /system/namespaces` lists them."""
        return (self.default,)

    def check(self, namespace: str | None, what: str = "") -> None:
        """`NamespaceNotFound` unless `namespace` is ours; None or "" means the default."""
        if namespace and namespace != self.default:
            raise NamespaceNotFound(namespace, self.names, what)

    def function_name(self, name: str, namespace: str | None = None) -> str:
        """`name` without its `.<namespace>` suffix, checking that namespace and the one
        given apart (a `namespace` query parameter or field); `NamespaceNotFound` if
        either is not ours."""
        what = f"function {name!r}"
        base, dot, suffix = name.rpartition(".")
        if dot and not suffix:  # "fn." names no namespace: an error, not the default
            raise NamespaceNotFound(suffix, self.names, what)
        if dot:
            self.check(suffix, what)
        self.check(namespace, what)
        return base if dot else name

    def lookup(self, lookup: Callable[[str], T | None], name: str) -> T | None:
        """The function a `<name>.<namespace>` spelling names, for a name that `lookup`
        did not find as it is; None if it has no suffix or the function is unknown."""
        if "." not in name:
            return None
        return lookup(self.function_name(name))
