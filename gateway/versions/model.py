"""What a version is: its labels, its name, the weights of a function's versions, and
which services a version lives in (docs/versions.md).

A version is its own service: a version's service names the function it belongs to and
its version; the function's own service (its first version) holds the weights, the
weights before the last change (for a rollback) and the canary's state. The platform
writes these labels itself (a deployment may not set them) and an update keeps them.

Plain values only: read on the hot path and by the providers' writes, so `Function` is
imported for types only (`gateway.providers.base` imports this package's `traffic`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from gateway.errors import BadRequest, Conflict
from gateway.labels import parse_integer
from gateway.reserved_names import RESERVED_BECAUSE, RESERVED_FUNCTION_NAMES

if TYPE_CHECKING:
    from gateway.providers.base import Function

VERSION_OF_LABEL = "com.faas.function.name"
VERSION_LABEL = "com.faas.function.version"
TRAFFIC_LABEL = "com.faas.traffic"
PREVIOUS_TRAFFIC_LABEL = "com.faas.traffic.previous"
CANARY_LABEL = "com.faas.canary"
DEFAULT_VERSION = "v1"
"""The version of a function's own service when its labels name none."""
MAX_VERSION_LENGTH = 20

KEPT_ON_UPDATE = (
    VERSION_OF_LABEL,
    VERSION_LABEL,
    TRAFFIC_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    CANARY_LABEL,
)
"""Labels the platform owns on a function's services: an update keeps them."""

_VERSION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?", re.ASCII)


def parse_version(raw: str) -> str | None:
    """A version name: lower-case letters, digits and '-', 1-20 characters, alphanumeric at
    both ends (it becomes part of a service name, `<function>-<version>`); None otherwise."""
    text = raw.strip()
    return text if _VERSION.fullmatch(text) else None


def parse_weights(raw: str) -> dict[str, int] | None:
    """Weights per version from `v1=90,v2=10`: valid versions, each named once, integers
    0-100 summing to 100; None otherwise."""
    weights: dict[str, int] = {}
    if len(raw) > 64 * MAX_VERSION_LENGTH:
        return None
    for part in raw.split(","):
        name, sep, number = part.partition("=")
        version = parse_version(name)
        weight = parse_integer(number, 0, 100) if sep else None
        if version is None or weight is None or version in weights:
            return None
        weights[version] = weight
    return weights if sum(weights.values()) == 100 else None


def format_weights(weights: Mapping[str, int]) -> str:
    """`weights` as `parse_weights` reads them, in version order."""
    return ",".join(f"{version}={weights[version]}" for version in sorted(weights))


def with_traffic(
    labels: Mapping[str, str], weights: Mapping[str, int], canary: str | None
) -> dict[str, str]:
    """A function's own service's `labels` with new weights and canary state (None: no
    canary): the weights replaced are kept for a rollback."""
    written = dict(labels)
    before = written.get(TRAFFIC_LABEL)
    written[TRAFFIC_LABEL] = format_weights(weights)
    if before and before != written[TRAFFIC_LABEL]:
        written[PREVIOUS_TRAFFIC_LABEL] = before
    if canary is None:
        written.pop(CANARY_LABEL, None)
    else:
        written[CANARY_LABEL] = canary
    return written


def own_version(function: Function) -> str:
    """The version of a function's own service: its label, else `DEFAULT_VERSION`."""
    return parse_version(function.labels.get(VERSION_LABEL, "")) or DEFAULT_VERSION


@dataclasses.dataclass(frozen=True)
class VersionTarget:
    """The service a deployment of a version creates or updates, and what marks it."""

    service: str
    labels: Mapping[str, str]
    function: Function | None  # the function it is a version of, if it exists
    own: bool  # whether the version is the function's own service

    def weights_after(self, version: str | None, weight: int | None) -> dict[str, int] | None:
        """The function's weights once a new `version` has `weight` of its calls; None
        when there is nothing to write (no function yet, or no weight)."""
        if self.function is None or not version or not weight:
            return None
        return weights_with(current_weights(self.function), version, weight)


def whole_function(name: str, lookup: Callable[[str], Function | None]) -> Function | None:
    """The function `name` reaches, as a whole: a version's name gives its function."""
    function = lookup(name)
    if function is not None and function.version_of is not None:
        return lookup(function.version_of)
    return function


def version_target(
    service: str, version: str | None, lookup: Callable[[str], Function | None]
) -> VersionTarget:
    """Where `version` of the function `service` lives: the function's own service for its
    first version (or when `version` is None), else `<function>-<version>`; `BadRequest`
    when that name is one of the stack's own services."""
    function = whole_function(service, lookup)
    if version is None:
        return VersionTarget(service, {}, function, True)
    if function is None:
        return VersionTarget(service, {VERSION_LABEL: version}, None, True)
    if version == own_version(function):
        return VersionTarget(function.name, {}, function, True)
    name = f"{function.name}-{version}"
    if name in RESERVED_FUNCTION_NAMES:
        raise BadRequest(
            f"version: {version!r} of {function.name!r} would be the service {name!r}, "
            f"which is reserved: {RESERVED_BECAUSE}"
        )
    labels = {VERSION_OF_LABEL: function.name, VERSION_LABEL: version}
    return VersionTarget(name, labels, function, False)


def new_version_target(
    service: str, version: str | None, lookup: Callable[[str], Function | None]
) -> VersionTarget:
    """`version_target` for a deployment that creates a service: `Conflict` when `version`
    is the function's own (which exists: a PUT updates it)."""
    target = version_target(service, version, lookup)
    if version is not None and target.function is not None and target.own:
        raise Conflict(
            f"version {version!r} is the function {target.service!r}'s own "
            "(update it with PUT /system/functions)"
        )
    return target


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
    version_of = function.version_of
    if version_of is None:
        return [function.name]
    if function.name == version_of:
        raise Conflict(
            f"version {function.version!r} is the function {version_of!r}'s own service: remove "
            "the other versions first, or the whole function by its name"
        )
    group = lookup(version_of)
    weights = current_weights(group) if group is not None else {}
    if weights.get(function.version or "", 0) > 0:
        raise Conflict(
            f"version {function.version!r} of {version_of!r} still gets "
            f"{weights[function.version or '']}% of the calls: set its weight to 0 first "
            f"(PUT /system/functions/{version_of}/traffic)"
        )
    return [function.name]
