"""Function namespaces, as OpenFaaS clients name them: `<name>.<namespace>`.

The default namespace (`GATEWAY_NAMESPACE`, `openfaas-fn` by default, the name faas-cli
appends) always exists and holds every function deployed without one, as before
namespaces were more than one. Others are created through `/system/namespace/`
(faas-cli's `namespace create`) and kept by the provider (on Swarm: one overlay network
per namespace, docs/management.md "Namespaces"). A name or a `namespace` field/parameter
naming an unknown namespace is `NamespaceNotFound` (404).

A function's key (the name the registry, metrics and scaling know it by) is its name in
the default namespace and `<name>.<namespace>` in any other: `function_name` turns what a
client sent into that key. Docker stack namespaces are not faas namespaces: a stack's
prefix stays part of the service name (`func_catservice`), reachable by its short name as
before.

Function names never contain a dot (Docker service names cannot), so a dot always starts
the namespace suffix. The request path looks a name up as it is first and only reads a
suffix when that misses, so a name without one costs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.errors import BadRequest, NamespaceNotFound
from gateway.labels import NAMESPACE_LABEL

DEFAULT_NAMESPACE = "openfaas-fn"
MAX_NAMESPACE_LENGTH = 30
"""A namespace's name ends up in service names (`<namespace>_<function>`, at most 63
characters) and a network's: 30 leaves a function name 32."""
NAMESPACE_PATTERN = re.compile(rf"[a-z0-9](?:[a-z0-9-]{{0,{MAX_NAMESPACE_LENGTH - 2}}}[a-z0-9])?")
"""A DNS label of at most `MAX_NAMESPACE_LENGTH` characters (as Kubernetes names them)."""

__all__ = ["NAMESPACE_LABEL"]  # re-exported: on services, networks, configs, secrets

T = TypeVar("T")

NamespaceNames = Callable[[], Collection[str]]
"""The namespaces a provider has besides the default, from its view (no I/O)."""


@dataclass(frozen=True)
class NamespaceRecord:
    """A namespace as faas-provider's `FunctionNamespace` describes it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def non_default(namespace: str | None, default: str = DEFAULT_NAMESPACE) -> str | None:
    """`namespace`, or None for the default one (or none given): a namespace as
    `Function.namespace` and the providers hold it."""
    return namespace if namespace and namespace != default else None


def service_name(name: str, namespace: str | None) -> str:
    """The service of function `name` in `namespace` (None: the default), as the API
    names it: `<namespace>_<name>` (a service's name cannot hold the dot of the key), the
    name itself in the default namespace."""
    return f"{namespace}_{name}" if namespace else name


MAX_NAMESPACE_ENTRIES = 64
"""The most labels and annotations one namespace may have, together."""
MAX_NAMESPACE_KEY_LENGTH = 253
"""The longest label or annotation key of a namespace."""
MAX_NAMESPACE_VALUE_LENGTH = 1024
"""The longest label or annotation value of a namespace."""
NAMESPACE_KEY_PATTERN = re.compile(
    rf"[A-Za-z0-9](?:[A-Za-z0-9._/-]{{0,{MAX_NAMESPACE_KEY_LENGTH - 2}}}[A-Za-z0-9])?"
)
"""A label or annotation key: letters, digits, `.`, `_`, `/` and `-`, as Kubernetes keys."""


def record_problem(record: NamespaceRecord) -> str | None:
    """What is wrong with `record` (its name, or the bounds above), or None."""
    if NAMESPACE_PATTERN.fullmatch(record.name) is None:
        return (
            f"name: {record.name[: MAX_NAMESPACE_LENGTH + 1]!r} is not a valid namespace (a DNS "
            f"label: lower-case letters, digits and '-', at most {MAX_NAMESPACE_LENGTH} characters)"
        )
    entries = len(record.labels) + len(record.annotations)
    if entries > MAX_NAMESPACE_ENTRIES:
        return f"labels and annotations: {entries}, at most {MAX_NAMESPACE_ENTRIES} together"
    for field_name, entries_of in (("labels", record.labels), ("annotations", record.annotations)):
        for key, value in entries_of.items():
            if NAMESPACE_KEY_PATTERN.fullmatch(key) is None:
                return (
                    f"{field_name}: {key[:40]!r} is not a valid key (letters, digits, '.', '_', "
                    f"'/' and '-', at most {MAX_NAMESPACE_KEY_LENGTH} characters)"
                )
            if len(value) > MAX_NAMESPACE_VALUE_LENGTH or "\x00" in value:
                return (
                    f"{field_name}.{key}: at most {MAX_NAMESPACE_VALUE_LENGTH} characters, no NUL"
                )
    return None


def check_record(record: NamespaceRecord) -> None:
    """`BadRequest` naming what is wrong with `record` (`record_problem`)."""
    problem = record_problem(record)
    if problem is not None:
        raise BadRequest(problem)


def _none() -> Collection[str]:
    return ()


class Namespaces:
    """The namespaces this gateway has: `default`, and whatever `others` says now."""

    def __init__(
        self, default: str = DEFAULT_NAMESPACE, others: NamespaceNames | None = None
    ) -> None:
        self.default = default
        self._others = others or _none

    @property
    def names(self) -> tuple[str, ...]:
        """Every namespace, as `GET /system/namespaces` lists them: the default first."""
        return (self.default, *sorted(set(self._others()) - {self.default}))

    def known(self, namespace: str | None) -> bool:
        """Whether `namespace` exists; None or "" means the default, which always does."""
        return not namespace or namespace == self.default or namespace in self._others()

    def check(self, namespace: str | None, what: str = "") -> None:
        """`NamespaceNotFound` unless `namespace` exists; None or "" means the default."""
        if not self.known(namespace):
            raise NamespaceNotFound(str(namespace), self.names, what)

    def other(self, namespace: str | None) -> str | None:
        """`namespace` unless it is the default (or None or ""): then None, as a
        `Function.namespace` and the providers have it."""
        return non_default(namespace, self.default)

    def key(self, name: str, namespace: str | None) -> str:
        """The key of function `name` in `namespace` (None: the default), unchecked."""
        other = self.other(namespace)
        if not other:
            return name
        base, at, version = name.partition("@")  # `<name>.<namespace>@<version>`
        return f"{base}.{other}{at}{version}"

    def split(self, key: str) -> tuple[str, str]:
        """A function key's name and namespace (the inverse of `key`)."""
        base, dot, suffix = key.rpartition(".")
        return (base, suffix) if dot and base and suffix else (key, self.default)

    def function_name(self, name: str, namespace: str | None = None) -> str:
        """The key of the function a client names: `name` possibly ending in
        `.<namespace>`, in `namespace` (a query parameter or body field) when given. Both
        must exist, and name the same namespace when both are given. A version
        (`<name>.<namespace>@<version>`, or `<name>@<version>.<namespace>` as hosts spell
        it) stays on the key: `<name>.<namespace>@<version>`."""
        what = f"function {name!r}"
        spelled, at, version = name.partition("@")
        base, dot, suffix = spelled.rpartition(".")
        if at and not dot:  # `<name>@<version>.<namespace>`
            version, dot, suffix = version.partition(".")
            base = spelled
        if dot and not suffix:  # "fn." names no namespace: an error, not the default
            raise NamespaceNotFound(suffix, self.names, what)
        if dot:
            self.check(suffix, what)
        self.check(namespace, what)
        if dot and namespace and self.other(namespace) != self.other(suffix):
            raise BadRequest(f"namespace {namespace!r} does not match the {what}'s {suffix!r}")
        return self.key(f"{base}{at}{version}", suffix) if dot else self.key(name, namespace)

    def lookup(self, lookup: Callable[[str], T | None], name: str) -> T | None:
        """The function a `<name>.<namespace>` spelling names, for a name that `lookup`
        did not find as it is; None if it has no suffix or the function is unknown,
        `NamespaceNotFound` for an unknown namespace."""
        if "." not in name:
            return None
        key = self.function_name(name)
        return lookup(key) if key != name else None
