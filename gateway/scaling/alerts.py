"""`POST /system/alert`: Alertmanager webhooks drive scaling, as in OpenFaaS.

The body is Alertmanager's webhook JSON. Each alert names its function in the label
`function_name` (or `service`); `status` `firing` adds `com.faas.scale.factor` percent of
`max` replicas (and keeps at least that many until the alert resolves), `resolved` goes
back to `min`. Unknown functions are reported in the answer, not retried: 200 with the
outcome per alert. Malformed bodies are 400, bodies over 1 MiB (the management API's
limit) 413 as soon as the limit is passed; with autoscaling off (`GATEWAY_AUTOSCALE=false`)
the endpoint answers 503. It sits behind the management API's basic auth.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.asgi import MAX_API_BODY_BYTES, read_bounded_body
from gateway.errors import BadRequest, Disabled, GatewayError, status_code
from gateway.providers.base import FunctionView
from gateway.scaling.autoscaler import Autoscaler

log = logging.getLogger("gateway.scaling")

FUNCTION_LABELS = ("function_name", "service")

Handler = Callable[[Request], Awaitable[Response]]


def alert_endpoint(provider: FunctionView, autoscaler: Autoscaler | None) -> Handler:
    """The webhook's endpoint (`POST /system/alert`, behind auth): it raises a
    `GatewayError` for its error answers, which the management API's handlers write."""

    async def alert(request: Request) -> Response:
        if autoscaler is None or not autoscaler.enabled:
            raise Disabled("autoscaling is off (GATEWAY_AUTOSCALE=false): alert ignored")
        headers = request.scope["headers"]
        body = await read_bounded_body(headers, request.receive, MAX_API_BODY_BYTES)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise BadRequest(f"body: invalid JSON ({error})") from None
        if not isinstance(payload, Mapping) or not isinstance(payload.get("alerts"), list):
            raise BadRequest("body: expected Alertmanager's webhook JSON with an 'alerts' list")
        group_status = payload.get("status")
        results: list[dict[str, Any]] = []
        for alert in payload["alerts"]:
            results.append(await _apply(alert, group_status))
        return JSONResponse({"alerts": results})

    async def _apply(alert: object, group_status: object) -> dict[str, Any]:
        alert = alert if isinstance(alert, Mapping) else {}
        labels = alert.get("labels")
        labels = labels if isinstance(labels, Mapping) else {}
        name = next((str(labels[key]) for key in FUNCTION_LABELS if labels.get(key)), "")
        status = alert.get("status") or group_status
        if not name:
            return {"error": "alert has no function_name or service label"}
        if status not in ("firing", "resolved"):
            return {"function": name, "error": f"unknown status {status!r}"}
        function = provider.lookup(name)
        if function is None:
            return {"function": name, "error": f"function {name!r} not found"}
        assert autoscaler is not None
        try:
            replicas = await autoscaler.alert(function, firing=status == "firing")
        except GatewayError as error:
            log.warning("alert %s for %s: %s", status, function.name, error.message)
            return {
                "function": function.name,
                "status": status,
                "error": error.message,
                "code": status_code(error),
            }
        return {"function": function.name, "status": status, "replicas": replicas}

    return alert
