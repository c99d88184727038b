"""The namespace endpoints, as faas-cli's `namespace` commands call them (faas-provider's
paths and `FunctionNamespace` bodies; faasd's statuses): list, create, read, update and
remove the namespaces besides the default. The provider keeps them (`NamespaceStore`);
limits among their labels are checked here when they are written
(`gateway.management.namespace_limits`).

The default namespace always exists: it is listed first, can be read, and cannot be
created (409), updated or removed (400)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api_types.answers import Accepted, NamespaceDescription
from gateway.api_types.bodies import FunctionNamespace
from gateway.deployments import parse_body
from gateway.errors import BadRequest, Conflict, NamespaceNotFound
from gateway.management.namespace_limits import parse_limits
from gateway.management.operations import System, answer, read_json
from gateway.namespaces import NamespaceRecord

log = logging.getLogger("gateway.system")
T = TypeVar("T")


async def list_namespaces(request: Request, system: System) -> Response:
    """`GET /system/namespaces`: every namespace's name, the default first."""
    await system.provider.refresh()  # read-your-writes: whichever process or gateway wrote
    return JSONResponse(list(system.namespaces.names))


async def create_namespace(request: Request, system: System) -> Response:
    """`POST /system/namespace/` (or without the slash): 201 with its record."""
    record = parse_body(FunctionNamespace, await read_json(request)).record
    if record.name == system.namespaces.default:
        raise Conflict(f"namespace {record.name!r} already exists: it is the default one")
    parse_limits(record)
    await system.provider.create_namespace(record)
    log.info("created namespace %s", record.name)
    return answer(_described(record), 201)


async def get_namespace(request: Request, system: System) -> Response:
    """`GET /system/namespace/{namespace}`: its record, read now."""
    name = request.path_params["namespace"]
    if name == system.namespaces.default:
        return answer(_described(NamespaceRecord(name)))
    return answer(_described(await _read(system, name)))


async def update_namespace(request: Request, system: System) -> Response:
    """`PUT /system/namespace/{namespace}`: its labels and annotations replaced."""
    record = _named(request, system, await read_json(request), "updated")
    parse_limits(record)
    await _found(system, record.name, system.provider.update_namespace(record))
    log.info("updated namespace %s", record.name)
    return answer(_described(record), 202)


async def remove_namespace(request: Request, system: System) -> Response:
    """`DELETE /system/namespace/{namespace}`, with its name in the body (as faas-cli
    sends it) or no body at all: once it holds no function nor secret."""
    declared = request.headers.get("content-length", "0") not in ("", "0")
    chunked = "chunked" in request.headers.get("transfer-encoding", "")
    if declared or chunked:
        name = _named(request, system, await read_json(request), "removed").name
    else:
        name = _path_name(request, system, "removed")
    await _found(system, name, system.provider.remove_namespace(name))
    log.info("removed namespace %s", name)
    return answer(Accepted(message=f"removed namespace {name!r}", name=name), 202)


def _path_name(request: Request, system: System, what: str) -> str:
    name = str(request.path_params["namespace"])
    if name == system.namespaces.default:
        raise BadRequest(
            f"namespace {name!r} is the default one: it always exists and cannot be {what}"
        )
    return name


def _named(request: Request, system: System, body: object, what: str) -> NamespaceRecord:
    """The body's record, whose name must be the path's (not the default's)."""
    name = _path_name(request, system, what)
    record = parse_body(FunctionNamespace, body).record
    if record.name != name:
        raise BadRequest(f"name: {record.name!r} does not match the path's namespace {name!r}")
    return record


async def _read(system: System, name: str) -> NamespaceRecord:
    return await _found(system, name, system.provider.namespace(name))


async def _found(system: System, name: str, operation: Awaitable[T]) -> T:
    """`operation`'s outcome; its `NamespaceNotFound` lists every namespace, the default
    included (a provider knows only the others)."""
    try:
        return await operation
    except NamespaceNotFound:
        raise NamespaceNotFound(name, system.namespaces.names) from None


def _described(record: NamespaceRecord) -> NamespaceDescription:
    return NamespaceDescription(
        name=record.name, labels=dict(record.labels), annotations=dict(record.annotations)
    )
