"""`KnownServices`: the function read from each service at the version last seen.

A full sync lists every service (every 30 s, and whenever the events stream reconnects).
Reading a function anew from each service's attrs on every sync made new objects for
every function each time, interleaved with the listing's short-lived ones: at 1,000
functions each gateway worker held about 8 KB per function after a few syncs, mostly
memory freed but not returned. A service's spec (all a function is read from, with its
creation time) changes only with its `Version.Index`, so an unchanged service keeps its
`Function` object and a sync makes nothing new for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from gateway.providers.base import Function
from gateway.providers.swarm.services import mapping

FunctionReader = Callable[[Mapping[str, Any]], "Function | None"]
"""Reads a service's attrs into its function, or None for a service that is not one."""


class KnownServices:
    """Per service ID: the version and functions-network IDs it was read at, and what it
    was read into. Touched only by the thread that syncs."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[object, frozenset[str], Function | None]] = {}

    def read(
        self, attrs: Mapping[str, Any], network_ids: frozenset[str], reader: FunctionReader
    ) -> Function | None:
        """The function `attrs` describes: the one read before if the service's version
        and the network's IDs are unchanged, else `reader(attrs)` (then remembered)."""
        service_id = str(attrs.get("ID") or "")
        version = mapping(attrs.get("Version")).get("Index")
        known = self._known.get(service_id)
        if known is not None and version is not None and known[:2] == (version, network_ids):
            return known[2]
        function = reader(attrs)
        if service_id and version is not None:
            self._known[service_id] = (version, network_ids, function)
        return function

    def keep_only(self, service_ids: Collection[str]) -> None:
        """Forget every service not in `service_ids` (removed since)."""
        wanted = set(service_ids)
        for service_id in self._known.keys() - wanted:
            del self._known[service_id]

    def forget(self, service_id: str) -> None:
        """Read this service anew next time (an event said it changed or went)."""
        self._known.pop(service_id, None)
