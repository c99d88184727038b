"""What the gateway says of itself under `/system`: its build, its health with the
provider's detail, and the OpenAPI document of this API."""

from __future__ import annotations

import platform

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import __version__
from gateway.api_types.answers import Health, Info, ProviderInfo, Version
from gateway.management.operations import System, answer

PROVIDER_NAME = "faas"


async def info(request: Request, system: System) -> Response:
    """`GET /system/info`: provider, orchestration, release and build (OpenFaaS's shape)."""
    version = Version(sha=system.config.build_sha or "unknown", release=__version__)
    orchestration = system.provider.orchestration
    return answer(
        Info(
            provider=ProviderInfo(
                provider=PROVIDER_NAME, orchestration=orchestration, version=version
            ),
            version=version,
            arch=platform.machine(),
        )
    )


async def healthz(request: Request, system: System) -> Response:
    """`GET /system/healthz`: `/healthz` with the provider's detail."""
    status = system.provider.status()
    health = Health(status="ok" if status.ready else "unavailable", detail=status.detail)
    return answer(health, 200 if status.ready else 503)


async def openapi(request: Request, system: System) -> Response:
    """`GET /system/openapi.json`."""
    return JSONResponse(system.document)
