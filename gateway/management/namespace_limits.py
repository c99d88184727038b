"""Per-namespace limits (docs/management.md, "Namespaces"): optional labels of a
namespace other than the default that bound what its functions may take together.

- `com.faas.limit.functions`: functions (a function with several versions counts once);
- `com.faas.limit.replicas`: the desired replicas of all its services together;
- `com.faas.limit.memory`: the sum over its services of `limits.memory` x replicas (as
  `limits.memory` is written: `512Mi`, `1G`, bytes); in such a namespace every
  deployment must set `limits.memory`.

A deploy, an update or a scale that would take the namespace over one is refused with
`Forbidden` (403) naming the limit, its value and the namespace. A write that does not
raise what a limit counts (an update in place, a scale down) passes even in a namespace
already over it (its limit lowered since). Invalid values are refused (400) when the
namespace is created or updated. Replicas the autoscaler sets are not checked here: a
function's `com.faas.scale.max` bounds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.api_types.bodies import FunctionDeployment
from gateway.deployments.fields import parse_memory
from gateway.errors import BadRequest, Forbidden
from gateway.labels import deploy_replicas, parse_integer
from gateway.management.operations import System
from gateway.namespaces import NamespaceRecord
from gateway.providers.base import Function

LIMIT_PREFIX = "com.faas.limit."
FUNCTIONS_LIMIT = LIMIT_PREFIX + "functions"
REPLICAS_LIMIT = LIMIT_PREFIX + "replicas"
MEMORY_LIMIT = LIMIT_PREFIX + "memory"
MAX_FUNCTIONS_LIMIT = 10_000
"""The largest `com.faas.limit.functions` accepted."""
MAX_REPLICAS_LIMIT = 1_000_000
"""The largest `com.faas.limit.replicas` accepted."""


@dataclass(frozen=True)
class NamespaceLimits:
    """A namespace's limits; None where it sets none."""

    functions: int | None = None
    replicas: int | None = None
    memory: int | None = None  # bytes


def parse_limits(record: NamespaceRecord) -> NamespaceLimits:
    """The limits `record`'s labels set; `BadRequest` naming an invalid one."""
    labels = record.labels

    def count(label: str, most: int) -> int | None:
        raw = labels.get(label)
        if raw is None:
            return None
        value = parse_integer(raw, 0, most)
        if value is None:
            raise BadRequest(f"labels.{label}: {raw[:20]!r} is not an integer from 0 to {most}")
        return value

    memory = labels.get(MEMORY_LIMIT)
    return NamespaceLimits(
        functions=count(FUNCTIONS_LIMIT, MAX_FUNCTIONS_LIMIT),
        replicas=count(REPLICAS_LIMIT, MAX_REPLICAS_LIMIT),
        memory=None if memory is None else parse_memory(f"labels.{MEMORY_LIMIT}", memory),
    )


@dataclass(frozen=True)
class Change:
    """What a write does to one service of a namespace."""

    function: str
    """The function's name (for messages)."""
    adds_function: bool
    """Whether the namespace has no function of that name yet."""
    replicas: int
    """The service's desired replicas after the write."""
    memory: int | None
    """Its `limits.memory` after the write (bytes; None: none)."""
    replaces: Function | None = None
    """The service as it is now; None for a new one."""


def check_limits(record: NamespaceRecord, functions: Sequence[Function], change: Change) -> None:
    """`Forbidden` if `change` takes namespace `record.name`, whose services are
    `functions` now, over one of its limits (see the module docstring)."""
    limits = _limits(record)
    name = record.name

    def refuse(label: str, value: str, why: str) -> Forbidden:
        return Forbidden(f"namespace {name!r} is limited to {value} ({label}): {why}")

    if limits.functions is not None and change.adds_function:
        count = len({_owner(function) for function in functions}) + 1
        if count > limits.functions:
            raise refuse(FUNCTIONS_LIMIT, f"{limits.functions} functions",
                         f"function {change.function!r} would make {count}")  # fmt: skip
    old = change.replaces
    if limits.replicas is not None:
        before = sum(function.replicas for function in functions)
        after = before - (old.replicas if old else 0) + change.replicas
        if after > max(before, limits.replicas):
            raise refuse(REPLICAS_LIMIT, f"{limits.replicas} replicas",
                         f"function {change.function!r} would take it to {after}")  # fmt: skip
    if limits.memory is not None:
        if change.memory is None and (old is None or change.replicas > old.replicas):
            raise refuse(MEMORY_LIMIT, f"{limits.memory} bytes of memory",
                         f"function {change.function!r} must set limits.memory")  # fmt: skip
        before = sum(_memory(function) for function in functions)
        after = before - (_memory(old) if old else 0) + (change.memory or 0) * change.replicas
        if after > max(before, limits.memory):
            raise refuse(MEMORY_LIMIT, f"{limits.memory} bytes of memory",
                         f"function {change.function!r} would take it to {after}")  # fmt: skip


def _limits(record: NamespaceRecord) -> NamespaceLimits:
    try:
        return parse_limits(record)
    except BadRequest as error:  # a label edited by hand on the engine: refuse, say why
        raise Forbidden(
            f"namespace {record.name!r} has an invalid limit ({error.message}): fix it with "
            "PUT /system/namespace/{name} (faas-cli namespace update)"
        ) from None


def _owner(function: Function) -> str:
    return function.version_of or function.name


def _memory(function: Function) -> int:
    return (function.settings.limits.memory or 0) * function.replicas


# Where the management API writes (`functions._write`, `scale.scale`).


async def check_deployment_limits(
    system: System, deployment: FunctionDeployment, updating: bool
) -> None:
    """`check_limits` for a deploy (`updating` False) or an update of `deployment`, whose
    `namespace` the API has settled (None: the default one, which has no limits)."""
    namespace = deployment.namespace
    if not namespace:
        return
    record = await system.provider.namespace(namespace)
    if parse_limits_quietly(record) == NamespaceLimits():
        return
    if not updating and deployment.version is None:
        await system.provider.refresh()  # another process or gateway may have deployed
    functions = _in(system, namespace)
    name = _plain(deployment.service, namespace)
    owners = {_plain(_owner(function), namespace) for function in functions}
    replaces = _replaced(functions, name, deployment.version, namespace) if updating else None
    if updating and replaces is None:
        return  # nothing to update: the provider says so
    replicas = deploy_replicas(deployment.labels, replaces.replicas if replaces else None)
    memory = deployment.limits.memory if deployment.limits else None
    change = Change(name, name not in owners, replicas, memory, replaces)
    check_limits(record, functions, change)


async def check_scale_limits(system: System, name: str, replicas: int) -> None:
    """`check_limits` for setting function `name`'s replicas (its namespace's limits)."""
    function = system.provider.lookup(name)
    if function is None or not function.namespace:  # the default namespace: no limits
        return
    record = await system.provider.namespace(function.namespace)
    memory = function.settings.limits.memory
    change = Change(function.display_name, False, replicas, memory, function)
    check_limits(record, _in(system, function.namespace), change)


def parse_limits_quietly(record: NamespaceRecord) -> NamespaceLimits | None:
    """`parse_limits`, or None when one is invalid (`check_limits` says why)."""
    try:
        return parse_limits(record)
    except BadRequest:
        return None


def _replaced(
    functions: Sequence[Function], name: str, version: str | None, namespace: str
) -> Function | None:
    """The service an update of function `name` (or of its `version`) replaces."""
    for function in functions:
        if version is None and _plain(function.name, namespace) == name:
            return function
        owned = _plain(_owner(function), namespace) == name
        if version is not None and function.version == version and owned:
            return function
    return None


def _in(system: System, namespace: str) -> list[Function]:
    return [f for f in system.provider.functions() if f.namespace == namespace]


def _plain(name: str, namespace: str) -> str:
    """`name` without the `<namespace>_` prefix a namespace's services carry."""
    prefix = f"{namespace}_"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name
