"""Versions of a function and the weighted choice between them (docs/versions.md).

Each version is its own service, so the registry holds one `Function` per version;
`group_versions` gathers them under the function's own service (its first version), which
carries the weights (`com.faas.traffic`), and gives that entry a `Traffic`: the proxy asks
it (through `choose_version`) which version a call goes to. A function with one version
gets no `Traffic`, so its calls take exactly the path they took before versions existed.

The choice costs one step of an iterator per call: a schedule of slots (one per point of
weight, 100 in all) is laid out once by smooth weighted round robin, so any window of
calls follows the weights closely, and walked in a cycle. With a sticky header, a caller's
value is hashed (CRC-32, the same in every worker and gateway) onto a slot instead.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gateway.labels import STICKY_HEADER_LABEL, parse_header_name
from gateway.versions.model import (
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
    own_version,
    parse_version,
    parse_weights,
)

if TYPE_CHECKING:
    from gateway.providers.base import Function

log = logging.getLogger("gateway.traffic")

VERSION_HEADER = b"x-function-version"
"""A request header naming the version a call must reach (weight 0 included)."""


def smooth_schedule(weights: Mapping[str, int]) -> list[str]:
    """The versions in the order smooth weighted round robin picks them, one slot per
    point of weight: every version appears exactly its weight times, spread evenly.

    Ties go to the version first in `weights`' order, so the schedule is deterministic.
    """
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0)
    schedule: list[str] = []
    for _ in range(total):
        for version, weight in weights.items():
            current[version] += weight
        chosen = max(current, key=lambda version: current[version])
        current[chosen] -= total
        schedule.append(chosen)
    return schedule


class Traffic:
    """A function's versions, their weights, and the choice of one per call."""

    def __init__(
        self,
        name: str,
        versions: Mapping[str, Function],
        weights: Mapping[str, int],
        sticky_header: str | None = None,
    ) -> None:
        self.name = name
        self.versions = dict(versions)
        self.weights = {version: weights.get(version, 0) for version in sorted(versions)}
        self.sticky_header = sticky_header.encode("latin-1") if sticky_header else None
        self.schedule: tuple[Function, ...] = tuple(
            self.versions[version] for version in smooth_schedule(self.weights)
        )
        self._next = itertools.cycle(self.schedule).__next__

    def choose(self, headers: Sequence[tuple[bytes, bytes]]) -> Function | None:
        """The version a call with these headers goes to: the one `X-Function-Version`
        names (None if it names none of them), else the sticky header's slot, else the
        next slot of the schedule."""
        sticky = self.sticky_header
        slot = -1
        for header, value in headers:
            if header == VERSION_HEADER:
                return self.versions.get(value.decode("latin-1").strip())
            if header == sticky and slot < 0:
                slot = zlib.crc32(value) % len(self.schedule)
        return self.schedule[slot] if slot >= 0 else self._next()

    def version(self, version: str) -> Function | None:
        """One version by name (whatever its weight)."""
        return self.versions.get(version)


def choose_version(function: Function, headers: Sequence[tuple[bytes, bytes]]) -> Function | None:
    """The version of `function` a call with these headers goes to: `function` itself when
    it has one version, else `Traffic.choose`'s (None: `X-Function-Version` names none)."""
    traffic = function.traffic
    return function if traffic is None else traffic.choose(headers)


def version_named(function: Function, version: str) -> Function | None:
    """One version of `function` by name, whatever its weight (a function with one version
    has its own: `DEFAULT_VERSION` unless its label names another)."""
    if function.traffic is not None:
        return function.traffic.version(version)
    return function if version == own_version(function) else None


def group_versions(functions: Iterable[Function]) -> dict[str, Function]:
    """Every function by name, the versions of each function gathered (see the module).

    A version's service (labelled `com.faas.function.name=<function>` and
    `com.faas.function.version=<version>`) becomes a `Function` with that `version` and
    `version_of`; the function's own service gets its version and the `Traffic`. A
    version whose function's service is gone, or whose labels are invalid, stays a
    function of its own name.
    """
    by_name = {
        function.name: function
        if function.version_of is None and function.traffic is None
        else dataclasses.replace(function, version=None, version_of=None, traffic=None)
        for function in functions
    }
    members: dict[str, dict[str, Function]] = {}
    for function in by_name.values():
        version_of = function.labels.get(VERSION_OF_LABEL)
        if not version_of or version_of == function.name or version_of not in by_name:
            continue
        version = parse_version(function.labels.get(VERSION_LABEL, ""))
        if version is None:
            continue
        members.setdefault(version_of, {}).setdefault(version, function)
    for version_of, versions in members.items():
        root = by_name[version_of]
        root_version = own_version(root)
        versions.pop(root_version, None)  # the function's own service wins the name
        if not versions:
            continue
        grouped = {
            version: dataclasses.replace(
                function, version=version, version_of=version_of, traffic=None
            )
            for version, function in versions.items()
        }
        plain_root = dataclasses.replace(
            root, version=root_version, version_of=version_of, traffic=None
        )
        grouped[root_version] = plain_root
        weights = _weights(root, grouped)
        sticky = parse_header_name(root.labels.get(STICKY_HEADER_LABEL, ""))
        traffic = Traffic(version_of, grouped, weights, sticky)
        by_name[version_of] = dataclasses.replace(plain_root, traffic=traffic)
        for version, function in grouped.items():
            if version != root_version:
                by_name[function.name] = function
    return by_name


def _weights(root: Function, versions: Mapping[str, Function]) -> dict[str, int]:
    """The weights on the function's own service, for the versions that exist; all to
    its own version when the label is missing or names none of them."""
    raw = root.labels.get(TRAFFIC_LABEL)
    weights = parse_weights(raw) if raw else None
    if raw and weights is None:
        log.debug("function %s: invalid %s=%r", root.name, TRAFFIC_LABEL, raw)
    kept = {version: weight for version, weight in (weights or {}).items() if version in versions}
    if sum(kept.values()) <= 0:
        return {own_version(root): 100}
    return kept
