"""Find the function a call names, whichever door it came in by.

Every entrance finds its function here: a function call (`gateway.proxy.handler`), an
async call when it is queued (`gateway.async_calls.enqueue`) and when the queue worker
runs it (`gateway.async_calls.consumer`), and the triggers to come. A name is looked up as
it is addressed, then as `<name>.<namespace>` (`gateway.namespaces`); a function with
several versions then gives the version the call goes to
(`gateway.versions.traffic.choose_version`, docs/versions.md).

Waiting for a ready replica (a function at zero, being parked, or with none that
answers) is not done here but by the forwarder, the one part that learns whether a
replica answers: it holds the waker (`gateway.proxy.notifier.Waker`) for every door.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.errors import FunctionNotFound
from gateway.namespaces import Namespaces
from gateway.providers.base import Function
from gateway.versions.traffic import choose_version

Lookup = Callable[[str], Function | None]
"""The provider's view of one function by name (in memory, no I/O)."""
NO_SUCH_VERSION = "no such version (X-Function-Version)"


class Calls:
    """Finds the function (and version) a call goes to in the provider's view."""

    def __init__(self, lookup: Lookup, namespaces: Namespaces | None = None) -> None:
        self.lookup = lookup
        self.namespaces = namespaces or Namespaces()

    def find(self, name: str, namespace: str | None = None) -> Function:
        """The function `name` addresses (`<name>.<namespace>` too, read only when the name
        as spelled misses), in `namespace` if one is given; `FunctionNotFound` if none,
        `NamespaceNotFound` for a namespace not ours."""
        if self.namespaces.other(namespace):
            function = self.lookup(self.namespaces.function_name(name, namespace))
        else:
            self.namespaces.check(namespace, f"function {name!r}")
            function = self.lookup(name) or self.namespaces.lookup(self.lookup, name)
        if function is None:
            raise FunctionNotFound(name)
        return function

    def target(self, name: str, headers: Sequence[tuple[bytes, bytes]]) -> Function:
        """The function, or the version of it, that a call to `name` with these headers
        goes to: `find` (without a namespace apart), then `choose_version`;
        `FunctionNotFound` for a version it has not. (The hot path's: `find` inline.)"""
        function = self.lookup(name) or self.namespaces.lookup(self.lookup, name)
        if function is None:
            raise FunctionNotFound(name)
        if function.traffic is None:
            return function
        version = choose_version(function, headers)
        if version is None:
            raise FunctionNotFound(name, NO_SUCH_VERSION)
        return version

    def version(self, function: Function, headers: Sequence[tuple[bytes, bytes]]) -> Function:
        """`choose_version`'s answer for a function already found; `FunctionNotFound` when
        the call names a version the function has not."""
        version = choose_version(function, headers)
        if version is None:
            raise FunctionNotFound(function.name, NO_SUCH_VERSION)
        return version
