"""The one error renderer, as Starlette's exception handlers: endpoints raise, never catch."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import errors
from gateway.asgi import ClientDisconnected
from gateway.http_errors import ErrorFormat, exception_handlers


def answer_to(raised: Exception, error_format: ErrorFormat = ErrorFormat.JSON) -> httpx.Response:
    async def endpoint(request: Request) -> Response:
        raise raised

    app = Starlette(
        routes=[Route("/", endpoint)], exception_handlers=exception_handlers(error_format)
    )

    async def call() -> httpx.Response:
        # Starlette raises an unexpected error again once it is answered (for the server
        # to log): the answer is what is checked here.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get("/")

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("error", "status"),
    [(errors.BadRequest("body: x"), 400), (errors.PayloadTooLarge("body: y"), 413),
     (errors.FunctionNotFound("cat"), 404), (errors.Disabled("off"), 503)],
)  # fmt: skip
def test_a_gateway_error_is_its_status_and_message(error: errors.GatewayError, status: int) -> None:
    reply = answer_to(error)
    assert reply.status_code == status
    assert reply.json() == {"error": error.message}
    assert answer_to(error, ErrorFormat.TEXT).text == f"{error.message}\n"


@pytest.mark.parametrize("gone", [ClientDisconnect(), ClientDisconnected()])
def test_a_caller_gone_while_its_body_is_read_is_a_bare_400(gone: Exception) -> None:
    reply = answer_to(gone)
    assert (reply.status_code, reply.content) == (400, b"")


def test_anything_else_is_a_500_that_says_nothing_of_its_own() -> None:
    reply = answer_to(RuntimeError("secret detail"))
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error in the gateway (details in its log)"}
