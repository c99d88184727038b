"""A function's calls over its versions (docs/versions.md): set the weights, promote one
version, roll back, start and stop a canary, under `/system/functions/{name}/...`."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import Traffic
from gateway.deployments import (
    CanaryState,
    CanaryStep,
    canary_state,
    parse_canary_request,
    parse_promote_request,
    parse_weights_request,
)
from gateway.errors import BadRequest, Conflict, FunctionNotFound
from gateway.labels import CANARY_LABEL, PREVIOUS_TRAFFIC_LABEL, parse_weights
from gateway.management.operations import System, answer, read_json
from gateway.providers.base import Function
from gateway.providers.traffic import current_weights

log = logging.getLogger("gateway.system")


async def set_traffic(request: Request, system: System) -> Response:
    """`PUT /system/functions/{name}/traffic`: a weight per version."""
    function = _versioned(request, system)
    weights = parse_weights_request(await read_json(request), _versions_of(function))
    return await _set_weights(system, function, weights, None, "weights set")


async def promote(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/promote`: every call to one version."""
    function = _versioned(request, system)
    version = parse_promote_request(await read_json(request)).version
    versions = _versions_of(function)
    if version not in versions:
        raise BadRequest(f"version: {version!r} is not a version of {function.name!r} "
                         f"(its versions: {', '.join(versions)})")  # fmt: skip
    weights = {name: 100 if name == version else 0 for name in versions}
    return await _set_weights(system, function, weights, None, f"promoted {version}")


async def rollback(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/rollback`: the weights before the last change."""
    function = _versioned(request, system)
    canary = canary_state(function.labels.get(CANARY_LABEL))
    if canary is not None and canary.running:
        return await abort_canary(request, system)
    previous = parse_weights(function.labels.get(PREVIOUS_TRAFFIC_LABEL, ""))
    versions = _versions_of(function)
    if previous is None or any(w > 0 and v not in versions for v, w in previous.items()):
        raise Conflict(f"function {function.name!r} has no previous weights to go back to")
    weights = {version: previous.get(version, 0) for version in versions}
    return await _set_weights(system, function, weights, None, "rolled back")


async def start_canary(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/canary`."""
    function = _versioned(request, system)
    wanted = parse_canary_request(await read_json(request))
    if not system.config.autoscale:
        # Its steps are taken by the autoscaler's pass (docs/versions.md): it would
        # never move.
        raise Conflict(
            "a canary is stepped by the autoscaler, which is off on this gateway "
            "(GATEWAY_AUTOSCALE=false): set the weights with PUT "
            f"/system/functions/{function.name}/traffic, or turn the autoscaler on"
        )
    versions = _versions_of(function)
    if wanted.to not in versions:
        raise BadRequest(f"to: {wanted.to!r} is not a version of {function.name!r} "
                         f"(its versions: {', '.join(versions)})")  # fmt: skip
    weights = current_weights(function)
    if weights.get(wanted.to, 0) >= 100:
        raise BadRequest(f"to: {wanted.to!r} has every call already")
    now = time.time()
    canary = CanaryState(
        request=wanted, origin=weights, weight=weights.get(wanted.to, 0), since=now,
        steps=(CanaryStep(weight=weights.get(wanted.to, 0), at=now, result="started"),),
    )  # fmt: skip
    return await _set_weights(system, function, weights, canary, f"canary to {wanted.to} started")


async def abort_canary(request: Request, system: System) -> Response:
    """`DELETE /system/functions/{name}/canary`: back to the weights before it."""
    function = _versioned(request, system)
    canary = canary_state(function.labels.get(CANARY_LABEL))
    if canary is None or not canary.running:
        raise Conflict(f"function {function.name!r} has no canary running")
    now = time.time()
    ended = canary.model_copy(update={
        "status": "aborted",
        "steps": (*canary.steps, CanaryStep(weight=canary.origin.get(canary.request.to, 0),
                                            at=now, result="aborted")),
    })  # fmt: skip
    weights = {v: canary.origin.get(v, 0) for v in _versions_of(function)}
    if sum(weights.values()) != 100:
        weights = current_weights(function)
    return await _set_weights(system, function, weights, ended, "canary aborted")


def _versioned(request: Request, system: System) -> Function:
    """The function the path names, as a whole (its own service, with its versions)."""
    name = system.function_name(request, request.path_params["name"])
    function = system.provider.lookup(name)
    if function is not None and function.function_name is not None:
        function = system.provider.lookup(function.function_name)
    if function is None:
        raise FunctionNotFound(name)
    return function


def _versions_of(function: Function) -> list[str]:
    return sorted(current_weights(function) if function.traffic is None else
                  function.traffic.versions)  # fmt: skip


async def _set_weights(
    system: System,
    function: Function,
    weights: dict[str, int],
    canary: CanaryState | None,
    done: str,
) -> Response:
    await system.provider.set_traffic(function.name, weights, canary.label() if canary else None)
    log.info("function %s: %s: %s", function.name, done, weights)
    set_to = Traffic(message=f"{done}: function {function.name!r}", name=function.name,
                     weights=weights)  # fmt: skip
    return answer(set_to, 202)
