"""The `/system/secrets` routes (OpenFaaS's paths, bodies and statuses): list, create,
replace and remove the secrets functions may mount. Values go in, never come out: not in
an answer, an error or the log. The provider does the work (`SecretStore`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.providers.base import SecretStore
from gateway.secret_requests import parse_secret, parse_secret_name

log = logging.getLogger("gateway.system")

Handler = Callable[[Request], Awaitable[Response]]
JsonReader = Callable[[Request], Awaitable[object]]


def secret_routes(
    store: SecretStore, read_json: JsonReader, wrap: Callable[[Handler], Handler]
) -> list[Route]:
    """The routes on `store`; `read_json` reads a bounded JSON body, `wrap` renders errors."""

    async def list_secrets(request: Request) -> Response:
        return JSONResponse([{"name": name} for name in await store.secret_names()])

    async def create(request: Request) -> Response:
        name, value = parse_secret(await read_json(request))
        await store.create_secret(name, value)
        log.info("created secret %s", name)
        return JSONResponse({"message": f"created secret {name!r}", "name": name}, 201)

    async def update(request: Request) -> Response:
        name, value = parse_secret(await read_json(request))
        rolled = await store.update_secret(name, value)
        log.info("updated secret %s, rolling %s", name, ", ".join(rolled) or "no function")
        message = f"updated secret {name!r}" + (
            f"; rolling {', '.join(map(repr, rolled))} onto it" if rolled else ""
        )
        return JSONResponse({"message": message, "name": name, "functions": list(rolled)})

    async def remove(request: Request) -> Response:
        # 200, not the 204 of OpenFaaS's API document: faas-cli takes only 200 or 202.
        name = parse_secret_name(await read_json(request))
        await store.remove_secret(name)
        log.info("removed secret %s", name)
        return JSONResponse({"message": f"removed secret {name!r}", "name": name})

    return [
        Route("/secrets", wrap(list_secrets), methods=["GET"]),
        Route("/secrets", wrap(create), methods=["POST"]),
        Route("/secrets", wrap(update), methods=["PUT"]),
        Route("/secrets", wrap(remove), methods=["DELETE"]),
    ]
