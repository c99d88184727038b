"""Replicas set from outside: `POST /system/scale-function/{name}` (a client, as
faas-cli does it) and `POST /system/alert` (Alertmanager's webhook,
`gateway.scaling.alerts`); and what scaling reads of this gateway, `GET /system/load`
(`gateway.scaling.load_report`)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.bodies import ScaleRequest
from gateway.deployments import parse_body
from gateway.errors import BadRequest
from gateway.management.namespace_limits import check_scale_limits
from gateway.management.operations import System, accepted, read_json

log = logging.getLogger("gateway.system")


async def scale(request: Request, system: System) -> Response:
    """`POST /system/scale-function/{name}`: the replicas wanted."""
    wanted = parse_body(ScaleRequest, await read_json(request))
    await system.catch_up(request, wanted.namespace, request.path_params["name"])
    namespace = wanted.namespace
    name = system.function_name(request, request.path_params["name"], namespace=namespace)
    # `serviceName`, if given, read as the path's name was (in the same namespace).
    given = wanted.service_name
    if given is not None and system.function_name(request, given, namespace=namespace) != name:
        raise BadRequest("serviceName: must match the name in the path when given")
    replicas = wanted.replicas
    await check_scale_limits(system, name, replicas)
    await system.provider.scale(name, replicas)
    log.info("scaled function %s to %d", name, replicas)
    return accepted(f"scaling function {name!r} to {replicas}", name, replicas=replicas)


async def alert(request: Request, system: System) -> Response:
    """`POST /system/alert`: the autoscaler's webhook."""
    return await system.alert(request)


async def load(request: Request, system: System) -> Response:
    """`GET /system/load`: this gateway container's load, for the elected autoscaler."""
    return await system.load(request)
