"""`GET /system/load`: this gateway container's load report, for the elected autoscaler
of another container (`gateway.scaling.peers`).

Any worker answers for the whole container: the calls come from the shared metric files
every worker writes (the autoscaler's own `LoadView`), the alert floors from the shared
table (`gateway.scaling.alert_floors`). Behind the management API's basic auth; 503 with
autoscaling off (`GATEWAY_AUTOSCALE=false`). One read of the files, no engine call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import Disabled
from gateway.scaling.autoscaler import Autoscaler

Handler = Callable[[Request], Awaitable[Response]]


def load_endpoint(autoscaler: Autoscaler | None) -> Handler:
    """The endpoint (`GET /system/load`, behind auth); raises `Disabled` without an
    autoscaler, which the management API's handlers write."""

    async def load(request: Request) -> Response:
        if autoscaler is None:
            raise Disabled("autoscaling is off (GATEWAY_AUTOSCALE=false): no load report")
        return JSONResponse(autoscaler.report().sent())

    return load
