"""A function's calls over its versions (docs/versions.md): set the weights, promote one
version, roll back, start and stop a canary, under `/system/functions/{name}/...`.
The endpoints read the request and answer; `VersionController` does the change."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import Traffic
from gateway.management.operations import System, answer, read_json
from gateway.versions.controller import TrafficChange


async def set_traffic(request: Request, system: System) -> Response:
    """`PUT /system/functions/{name}/traffic`: a weight per version."""
    body = await read_json(request)
    return _changed(await system.versions.set_weights(_named(request, system), body))


async def promote(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/promote`: every call to one version."""
    body = await read_json(request)
    return _changed(await system.versions.promote(_named(request, system), body))


async def rollback(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/rollback`: the weights before the last change."""
    return _changed(await system.versions.rollback(_named(request, system)))


async def start_canary(request: Request, system: System) -> Response:
    """`POST /system/functions/{name}/canary`."""
    body = await read_json(request)
    return _changed(await system.versions.start_canary(_named(request, system), body))


async def abort_canary(request: Request, system: System) -> Response:
    """`DELETE /system/functions/{name}/canary`: back to the weights before it."""
    return _changed(await system.versions.abort_canary(_named(request, system)))


def _named(request: Request, system: System) -> str:
    return system.function_name(request, request.path_params["name"])


def _changed(change: TrafficChange) -> Response:
    set_to = Traffic(message=f"{change.done}: function {change.name!r}", name=change.name,
                     weights=change.weights)  # fmt: skip
    return answer(set_to, 202)
