"""What the gateway says of itself under `/system`: its namespaces, its build, its
health with the provider's detail, and the OpenAPI document of this API."""

from __future__ import annotations

import platform

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import __version__
from gateway.management.operations import System

PROVIDER_NAME = "faas"


async def list_namespaces(request: Request, system: System) -> Response:
    """`GET /system/namespaces`: the gateway's one namespace, as a list."""
    return JSONResponse(list(system.namespaces.names))


async def info(request: Request, system: System) -> Response:
    """`GET /system/info`: provider, orchestration and release (OpenFaaS's shape)."""
    version = {"release": __version__}
    return JSONResponse(
        {
            "provider": {
                "provider": PROVIDER_NAME,
                "orchestration": system.provider.orchestration,
                "version": version,
            },
            "version": version,
            "arch": platform.machine(),
        }
    )


async def healthz(request: Request, system: System) -> Response:
    """`GET /system/healthz`: `/healthz` with the provider's detail."""
    status = system.provider.status()
    return JSONResponse(
        {"status": "ok" if status.ready else "unavailable", "detail": status.detail},
        status_code=200 if status.ready else 503,
    )


async def openapi(request: Request, system: System) -> Response:
    """`GET /system/openapi.json`."""
    return JSONResponse(system.document)
