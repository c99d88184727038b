"""The `/system/secrets` endpoints (OpenFaaS's paths, bodies and statuses): list, create,
replace and remove the secrets functions may mount. Values go in, never come out: not in
an answer, an error or the log. The provider does the work (`SecretStore`)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types import SecretChanged, SecretListed
from gateway.management.operations import System, answer, read_json
from gateway.secrets import parse_secret, parse_secret_name

log = logging.getLogger("gateway.system")


async def list_secrets(request: Request, system: System) -> Response:
    """`GET /system/secrets`: names only."""
    return answer([SecretListed(name=name) for name in await system.provider.secret_names()])


async def create_secret(request: Request, system: System) -> Response:
    """`POST /system/secrets`."""
    name, value = parse_secret(await read_json(request))
    await system.provider.create_secret(name, value)
    log.info("created secret %s", name)
    return answer(SecretChanged(message=f"created secret {name!r}", name=name), 201)


async def update_secret(request: Request, system: System) -> Response:
    """`PUT /system/secrets`: a new value, and the functions that mount it rolled onto it."""
    name, value = parse_secret(await read_json(request))
    rolled = await system.provider.update_secret(name, value)
    log.info("updated secret %s, rolling %s", name, ", ".join(rolled) or "no function")
    message = f"updated secret {name!r}" + (
        f"; rolling {', '.join(map(repr, rolled))} onto it" if rolled else ""
    )
    return answer(SecretChanged(message=message, name=name, functions=list(rolled)))


async def remove_secret(request: Request, system: System) -> Response:
    """`DELETE /system/secrets`."""
    # 200, not the 204 of OpenFaaS's API document: faas-cli takes only 200 or 202.
    name = parse_secret_name(await read_json(request))
    await system.provider.remove_secret(name)
    log.info("removed secret %s", name)
    return answer(SecretChanged(message=f"removed secret {name!r}", name=name))
