"""Versions of a function and the weighted choice between them (docs/versions.md).

Each version is its own service, so the registry holds one `Function` per version;
`group_versions` gathers them under the function's own service (its first version), which
carries the weights (`com.faas.traffic`), and gives that entry a `Traffic`: the proxy asks
it which version a call goes to. A function with one version gets no `Traffic`, so its
calls take exactly the path they took before versions existed.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gateway.errors import Conflict
from gateway.labels import (
    CANARY_LABEL,
    DEFAULT_VERSION,
    PREVIOUS_TRAFFIC_LABEL,
    STICKY_HEADER_LABEL,
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
    parse_header_name,
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


def own_version(function: Function) -> str:
    """The version of a function's own service: its label, else `DEFAULT_VERSION`."""
    return parse_version(function.labels.get(VERSION_LABEL, "")) or DEFAULT_VERSION


def group_versions(functions: Iterable[Function]) -> dict[str, Function]:
    """Every function by name, the versions of each function gathered (see the module).

    A version's service (labelled `com.faas.function.name=<function>` and
    `com.faas.function.version=<version>`) becomes a `Function` with that `version` and
    `function_name`; the function's own service gets its version and the `Traffic`. A
    version whose function's service is gone, or whose labels are invalid, stays a
    function of its own name.
    """
    by_name = {
        function.name: function
        if function.function_name is None and function.traffic is None
        else dataclasses.replace(function, version=None, function_name=None, traffic=None)
        for function in functions
    }
    members: dict[str, dict[str, Function]] = {}
    for function in by_name.values():
        owner = function.labels.get(VERSION_OF_LABEL)
        if not owner or owner == function.name or owner not in by_name:
            continue
        version = parse_version(function.labels.get(VERSION_LABEL, ""))
        if version is None:
            continue
        members.setdefault(owner, {}).setdefault(version, function)
    for owner, versions in members.items():
        root = by_name[owner]
        root_version = own_version(root)
        versions.pop(root_version, None)  # the function's own service wins the name
        if not versions:
            continue
        grouped = {
            version: dataclasses.replace(
                function, version=version, function_name=owner, traffic=None
            )
            for version, function in versions.items()
        }
        plain_root = dataclasses.replace(
            root, version=root_version, function_name=owner, traffic=None
        )
        grouped[root_version] = plain_root
        weights = _weights(root, grouped)
        sticky = parse_header_name(root.labels.get(STICKY_HEADER_LABEL, ""))
        traffic = Traffic(owner, grouped, weights, sticky)
        by_name[owner] = dataclasses.replace(plain_root, traffic=traffic)
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


KEPT_ON_UPDATE = (
    VERSION_OF_LABEL,
    VERSION_LABEL,
    TRAFFIC_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    CANARY_LABEL,
)
"""Labels the platform owns on a function's services: an update keeps them."""


@dataclasses.dataclass(frozen=True)
class VersionTarget:
    """The service a deployment of a version creates or updates, and what marks it."""

    service: str
    labels: Mapping[str, str]
    function: Function | None  # the function it is a version of, if it exists
    own: bool  # whether the version is the function's own service


def version_target(
    service: str, version: str | None, lookup: Callable[[str], Function | None]
) -> VersionTarget:
    """Where `version` of the function `service` lives: the function's own service for its
    first version (or when `version` is None), else `<function>-<version>`."""
    function = lookup(service)
    if function is not None and function.function_name is not None:
        function = lookup(function.function_name)
    if version is None:
        return VersionTarget(service, {}, function, True)
    if function is None:
        return VersionTarget(service, {VERSION_LABEL: version}, None, True)
    if version == own_version(function):
        return VersionTarget(function.name, {}, function, True)
    labels = {VERSION_OF_LABEL: function.name, VERSION_LABEL: version}
    return VersionTarget(f"{function.name}-{version}", labels, function, False)


def current_weights(function: Function) -> dict[str, int]:
    """The weights a function's calls follow now (all to its own version when it has one)."""
    if function.traffic is not None:
        return dict(function.traffic.weights)
    return {own_version(function): 100}


def weights_with(current: Mapping[str, int], version: str, weight: int) -> dict[str, int]:
    """`current` with `version` at `weight`: the difference is taken from the versions
    with the most weight first (or given to the one with the most), so the sum stays 100."""
    others = {name: value for name, value in current.items() if name != version}
    if not others:
        return {version: 100}
    order = sorted(others, key=lambda name: (-others[name], name))
    change = (100 - weight) - sum(others.values())
    if change >= 0:
        others[order[0]] += change
    else:
        owed = -change
        for name in order:
            taken = min(owed, others[name])
            others[name] -= taken
            owed -= taken
    return {**others, version: weight}


def services_to_remove(function: Function, lookup: Callable[[str], Function | None]) -> list[str]:
    """The services removing `function` (as a name or `<name>@<version>` found it) takes
    down: every version of a function named as a whole, its own service last; one version
    alone once it has no weight. `Conflict` for a version still weighted, and for the
    function's own version alone while others remain."""
    if function.traffic is not None:
        others = [f.name for f in function.traffic.versions.values() if f.name != function.name]
        return [*sorted(others), function.name]
    owner = function.function_name
    if owner is None:
        return [function.name]
    if function.name == owner:
        raise Conflict(
            f"version {function.version!r} is the function {owner!r}'s own service: remove "
            "the other versions first, or the whole function by its name"
        )
    group = lookup(owner)
    weights = current_weights(group) if group is not None else {}
    if weights.get(function.version or "", 0) > 0:
        raise Conflict(
            f"version {function.version!r} of {owner!r} still gets "
            f"{weights[function.version or '']}% of the calls: set its weight to 0 first "
            f"(PUT /system/functions/{owner}/traffic)"
        )
    return [function.name]
