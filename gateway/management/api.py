"""The management API under `/system` (OpenFaaS-compatible paths and field names).

`create_system_app` builds the routes behind basic auth (`gateway.management.auth`). Handlers only
parse, validate and answer; every change goes through the provider's write methods.
Errors are JSON `{"error": "<one line>"}` (rendered by `gateway.http_errors`);
an unexpected exception is logged and answered 500 without any detail of its own.

The routes, their bodies and statuses are listed once, in `gateway.management.openapi` (served at
`GET /system/openapi.json`); the bodies are validated by their types in
`gateway.deployments`.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, cast

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.asgi import MAX_API_BODY_BYTES
from gateway.config import GatewayConfig
from gateway.deployments import (
    FunctionDeployment,
    parse_delete_request,
    parse_deployment,
    parse_scale_request,
    validate_function_name,
)
from gateway.errors import (
    BadRequest,
    Forbidden,
    FunctionNotFound,
    GatewayError,
    NoRoute,
)
from gateway.http_errors import ErrorFormat, error_response, send_error
from gateway.labels import ANNOTATION_PREFIX
from gateway.management.auth import RequireBasicAuth
from gateway.management.logs import (
    MAX_TAIL,
    follow,
    newest,
    parse_log_query,
    since_parameter,
    since_seconds,
)
from gateway.management.openapi import (
    FunctionResources,
    FunctionStatus,
    VersionStatus,
    openapi_document,
)
from gateway.management.secret_routes import secret_routes
from gateway.management.stats import StatsHistory, parse_stats_query, stats_subjects
from gateway.metrics import GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import (
    Function,
    FunctionProvider,
    FunctionSettings,
    LogLine,
    Resources,
)
from gateway.versions.canary import CanaryState, canary_state
from gateway.versions.controller import TrafficChange, VersionController
from gateway.versions.model import CANARY_LABEL

log = logging.getLogger("gateway.system")

MAX_BODY_BYTES = MAX_API_BODY_BYTES
PROVIDER_NAME = "faas"

Handler = Callable[[Request], Awaitable[Response]]


def create_system_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    namespaces: Namespaces | None = None,
) -> ASGIApp:
    """The `/system` routes (paths relative to the mount), behind basic auth.

    Wherever a function is named, `<name>.<namespace>` and a `namespace` query parameter
    (or body field) are read as faas-cli sends them (`gateway.namespaces`).
    """
    namespaces = namespaces or Namespaces(config.namespace)

    def function_name(request: Request, name: object, field_name: str = "name") -> str:
        """A named function's name without its namespace (checked, with `?namespace=`)."""
        if isinstance(name, str) and provider.lookup(name) is None:
            # A name as it is first, as on the request path (a static function may have
            # a dot in its name); only then its `.<namespace>` suffix.
            name = namespaces.function_name(name, request.query_params.get("namespace"))
        elif isinstance(name, str):
            namespaces.check(request.query_params.get("namespace"), f"function {name!r}")
        return validate_function_name(name, field_name)

    async def list_functions(request: Request) -> Response:
        namespaces.check(request.query_params.get("namespace"))
        await provider.refresh()  # read-your-writes: whichever process or gateway wrote
        available = await provider.available_replicas()
        counts = metrics.invocation_counts()
        return JSONResponse(
            [
                function_status(f, available, counts, namespaces.default)
                for f in provider.functions()
                if f.version_of is None or f.traffic is not None  # versions: in theirs
            ]
        )

    async def list_namespaces(request: Request) -> Response:
        return JSONResponse(list(namespaces.names))

    async def describe_function(request: Request) -> Response:
        name = function_name(request, request.path_params["name"])
        await provider.refresh()  # read-your-writes: whichever process or gateway wrote
        function = provider.lookup(name)
        if function is None:
            raise FunctionNotFound(name)
        available = await provider.available_replicas()
        status = function_status(
            function, available, metrics.invocation_counts(), namespaces.default
        )
        # Read now, not from the gateway's view: `faas deploy --wait` polls it after an update.
        status["updateState"] = await provider.update_state(function.name)
        return JSONResponse(with_definition(status, function.settings))

    async def deploy(request: Request) -> Response:
        deployment = _allowed(request, parse_deployment(await _read_json(request)))
        await provider.deploy(deployment)
        what = _spelled(deployment)
        log.info("deployed function %s (%s)", what, deployment.image)
        return _accepted(f"deploying function {what!r}", deployment.service)

    async def update(request: Request) -> Response:
        deployment = _allowed(request, parse_deployment(await _read_json(request)))
        await provider.update(deployment)
        what = _spelled(deployment)
        log.info("updating function %s (%s)", what, deployment.image)
        return _accepted(f"updating function {what!r}", deployment.service)

    versions = VersionController(provider, canaries_stepped=config.autoscale)

    def named(request: Request) -> str:
        return function_name(request, request.path_params["name"])

    async def set_traffic(request: Request) -> Response:
        body = await _read_json(request)
        return _changed(await versions.set_weights(named(request), body))

    async def promote(request: Request) -> Response:
        body = await _read_json(request)
        return _changed(await versions.promote(named(request), body))

    async def rollback(request: Request) -> Response:
        return _changed(await versions.rollback(named(request)))

    async def start_canary(request: Request) -> Response:
        body = await _read_json(request)
        return _changed(await versions.start_canary(named(request), body))

    async def abort(request: Request) -> Response:
        return _changed(await versions.abort_canary(named(request)))

    async def remove(request: Request) -> Response:
        removal = parse_delete_request(await _read_json(request))
        namespaces.check(removal.namespace, f"function {removal.function_name!r}")
        name = function_name(request, removal.function_name, "functionName")
        await provider.remove(name)
        log.info("removed function %s", name)
        return _accepted(f"removing function {name!r}", name)

    async def scale(request: Request) -> Response:
        name = function_name(request, request.path_params["name"])
        wanted = parse_scale_request(name, await _read_json(request), namespaces.function_name)
        namespaces.check(wanted.namespace, f"function {name!r}")
        replicas = wanted.replicas
        await provider.scale(name, replicas)
        log.info("scaled function %s to %d", name, replicas)
        return _accepted(f"scaling function {name!r} to {replicas}", name, replicas=replicas)

    async def logs(request: Request) -> Response:
        name = function_name(request, request.query_params.get("name"))
        query = parse_log_query(request.query_params)
        function = provider.lookup(name)
        if function is None:
            raise FunctionNotFound(name)
        asked_at = time.time()
        namespace = namespaces.default

        async def read(since: str | None, tail: int | None) -> Sequence[LogLine]:
            # One replica's lines are picked from the newest of all, then cut to `tail`.
            wanted = MAX_TAIL if query.instance else tail
            return query.select(await provider.logs(function.name, since, wanted))

        # The first read happens before answering, so a failure still gets its status.
        first = newest(await read(since_parameter(query.since), query.tail), query.tail)

        async def lines() -> AsyncIterator[bytes]:
            if not query.follow:
                for line in first:
                    yield line.ndjson(namespace)
                return
            start = since_seconds(query.since if query.since is not None else asked_at)
            try:
                async for line in follow(read, first, start):
                    yield line.ndjson(namespace)
            except GatewayError as error:
                # The status is sent already: end the stream, and say why in the log.
                log.warning("logs of %s: following stopped: %s", function.name, error.message)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    history = StatsHistory(metrics.outcomes)

    async def stats(request: Request) -> Response:
        query = parse_stats_query(request.query_params)
        subjects = stats_subjects(provider.functions())
        return JSONResponse(await history.stats(query, subjects))

    async def healthz(request: Request) -> Response:
        status = provider.status()
        return JSONResponse(
            {"status": "ok" if status.ready else "unavailable", "detail": status.detail},
            status_code=200 if status.ready else 503,
        )

    async def info(request: Request) -> Response:
        version = {"sha": config.build_sha or "unknown", "release": __version__}
        return JSONResponse(
            {
                "provider": {
                    "provider": PROVIDER_NAME,
                    "orchestration": provider.orchestration,
                    "version": version,
                },
                "version": version,
                "arch": platform.machine(),
            }
        )

    document = openapi_document(__version__)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    def _allowed(request: Request, deployment: FunctionDeployment) -> FunctionDeployment:
        what = f"function {deployment.service!r}"
        namespaces.check(deployment.namespace, what)
        namespaces.check(request.query_params.get("namespace"), what)
        allowlist = config.image_allowlist
        if allowlist and not image_allowed(deployment.image, allowlist):
            raise Forbidden(
                f"image {deployment.image!r} is not allowed: images must start with "
                + " or ".join(repr(prefix) for prefix in allowlist)
                + " (GATEWAY_IMAGE_ALLOWLIST)"
            )
        return deployment

    router = Router(
        routes=[
            Route("/functions", _json_errors(list_functions), methods=["GET"]),
            Route("/functions", _json_errors(deploy), methods=["POST"]),
            Route("/functions", _json_errors(update), methods=["PUT"]),
            Route("/functions", _json_errors(remove), methods=["DELETE"]),
            Route("/function/{name}", _json_errors(describe_function), methods=["GET"]),
            Route("/functions/{name}/traffic", _json_errors(set_traffic), methods=["PUT"]),
            Route("/functions/{name}/promote", _json_errors(promote), methods=["POST"]),
            Route("/functions/{name}/rollback", _json_errors(rollback), methods=["POST"]),
            Route("/functions/{name}/canary", _json_errors(start_canary), methods=["POST"]),
            Route("/functions/{name}/canary", _json_errors(abort), methods=["DELETE"]),
            Route("/scale-function/{name}", _json_errors(scale), methods=["POST"]),
            Route("/logs", _json_errors(logs), methods=["GET"]),
            Route("/namespaces", _json_errors(list_namespaces), methods=["GET"]),
            Route("/stats", _json_errors(stats), methods=["GET"]),
            Route("/info", _json_errors(info), methods=["GET"]),
            Route("/healthz", _json_errors(healthz), methods=["GET"]),
            Route("/openapi.json", _json_errors(openapi), methods=["GET"]),
            *secret_routes(provider, _read_json, _json_errors),
        ],
        default=not_found,
    )
    return RequireBasicAuth(router, config.basic_auth, what="management API")


def function_status(
    function: Function,
    available: Mapping[str, int],
    invocations: Mapping[str, int],
    namespace: str,
) -> FunctionStatus:
    """A function as `/system/functions` shows it (OpenFaaS `FunctionStatus` names), in
    the gateway's one `namespace` (a Docker stack's is in its labels and name)."""
    labels = {k: v for k, v in function.labels.items() if not k.startswith(ANNOTATION_PREFIX)}
    annotations = {
        k[len(ANNOTATION_PREFIX) :]: v
        for k, v in function.labels.items()
        if k.startswith(ANNOTATION_PREFIX)
    }
    status = FunctionStatus(
        name=function.name,
        image=function.image,
        namespace=namespace,
        envProcess=function.env_process or "",
        labels=labels,
        annotations=annotations,
        replicas=function.replicas,
        availableReplicas=available.get(function.name, 0),
        invocationCount=invocations.get(function.metric_name, 0),
    )
    traffic = function.traffic
    if traffic is not None:
        status["invocationCount"] = sum(
            invocations.get(version.metric_name, 0) for version in traffic.versions.values()
        )
        status["versions"] = [
            version_status(version, traffic.weights.get(name, 0), available, invocations)
            for name, version in sorted(traffic.versions.items())
        ]
    canary = canary_state(function.labels.get(CANARY_LABEL))
    if canary is not None:
        # As JSON goes out (the schema is the model's).
        status["canary"] = cast(CanaryState, canary.model_dump(mode="json", by_alias=True))
    return status


def version_status(
    version: Function, weight: int, available: Mapping[str, int], invocations: Mapping[str, int]
) -> VersionStatus:
    """One version as `/system/functions` shows it."""
    ready = available.get(version.name, 0)
    health: Literal["ready", "starting", "scaled to zero"] = (
        "ready" if ready > 0 else "starting" if version.replicas > 0 else "scaled to zero"
    )
    return VersionStatus(
        version=version.version or "",
        name=version.name,
        image=version.image,
        envProcess=version.env_process or "",
        weight=weight,
        replicas=version.replicas,
        availableReplicas=ready,
        invocationCount=invocations.get(version.metric_name, 0),
        health=health,
    )


def _spelled(deployment: FunctionDeployment) -> str:
    version = deployment.version
    return f"{deployment.service}@{version}" if version else deployment.service


def with_definition(status: FunctionStatus, settings: FunctionSettings) -> FunctionStatus:
    """`status` and the rest of the function's definition, as describing it shows them:
    in `FunctionDeployment`'s names and forms, so that a PUT takes them back as they are."""

    def resources(given: Resources) -> FunctionResources | None:
        shown = FunctionResources()
        if given.cpus is not None:
            shown["cpu"] = f"{given.cpus:g}"
        if given.memory is not None:
            shown["memory"] = str(given.memory)
        return shown or None

    status["envVars"] = dict(settings.env_vars)
    status["constraints"] = list(settings.constraints)
    status["secrets"] = list(settings.secrets)
    status["limits"] = resources(settings.limits)
    status["requests"] = resources(settings.requests)
    status["readOnlyRootFilesystem"] = settings.read_only_root_filesystem
    return status


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Paths under /system that match no route: a JSON error like every other one."""
    path = scope["path"]  # the whole path, also under a Mount
    error = NoRoute(f"no such path in the management API: {path!r}")
    await send_error(send, error, ErrorFormat.JSON)


def _changed(change: TrafficChange) -> Response:
    return _accepted(f"{change.done}: function {change.name!r}", change.name,
                     weights=change.weights)  # fmt: skip


def _accepted(message: str, name: str, **extra: Any) -> Response:
    return JSONResponse({"message": message, "name": name, **extra}, status_code=202)


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as error:
            return error_response(error, ErrorFormat.JSON)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            internal = GatewayError("internal error in the gateway (details in its log)")
            return error_response(internal, ErrorFormat.JSON)

    return wrapped


async def _read_json(request: Request) -> object:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest("body: required, a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"body: invalid JSON ({error})") from None


def image_allowed(image: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `image` starts with one of `prefixes` at a name boundary.

    `registry.example.com` admits `registry.example.com/x` but not
    `registry.example.com.evil.io/x`; a prefix ending in `/`, `:` or `@` is taken as is.
    """
    return any(
        image.startswith(prefix if prefix.endswith(("/", ":", "@")) else f"{prefix}/")
        for prefix in prefixes
    )
