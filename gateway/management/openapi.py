"""The OpenAPI 3.1 document of the management API, served at `GET /system/openapi.json`.

The bodies' schemas are generated from their types: the request models in
`gateway.deployments` (which also validate) and the answers typed here, which the handlers
fill. The route table below is the one description of each route's statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema
from typing_extensions import TypedDict

from gateway.deployments import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionName,
    ScaleRequest,
)
from gateway.management.logs import MAX_TAIL
from gateway.secret_requests import Secret, SecretDescription
from gateway.versions.canary import CanaryState
from gateway.versions.requests import CanaryRequest, PromoteRequest

DEFAULT_WINDOW = 300
MAX_WINDOW = 900

Count = Annotated[int, Field(ge=0)]


class VersionStatus(TypedDict):
    """One version of a function with several (docs/versions.md)."""

    version: str
    name: Annotated[
        str,
        Field(
            description="Its service: `<function>-<version>`, or the "
            "function's own name for its first version."
        ),
    ]
    image: str
    envProcess: str
    weight: Annotated[int, Field(ge=0, le=100, description="Percent of the calls it gets.")]
    replicas: Count
    availableReplicas: Count
    invocationCount: Count
    health: Annotated[
        Literal["ready", "starting", "scaled to zero"],
        Field(description="ready: a replica runs; starting: none runs yet; scaled to zero."),
    ]


class FunctionResources(TypedDict):
    """A limit or reservation as FunctionDeployment takes it (OpenFaaS's strings)."""

    cpu: NotRequired[Annotated[str, Field(description="Cores, e.g. '0.5'.")]]
    memory: NotRequired[Annotated[str, Field(description="Bytes, e.g. '134217728'.")]]


_DESCRIBE_ONLY = "Only from GET /system/function/{name}"


class FunctionStatus(TypedDict):
    """A function as `/system/functions` shows it (OpenFaaS names); describing one adds
    the rest of its definition, so that a client can send it back whole with PUT."""

    name: str
    image: str
    namespace: Annotated[
        str,
        Field(
            description="The gateway's one namespace (GATEWAY_NAMESPACE, 'openfaas-fn' by "
            "default); a Docker stack's namespace stays part of the name."
        ),
    ]
    envProcess: str
    labels: dict[str, str]
    annotations: dict[str, str]
    replicas: Count
    availableReplicas: Count
    invocationCount: Count
    updateState: NotRequired[
        Annotated[
            str,
            Field(
                description="Only from GET /system/function/{name}: the latest rolling "
                "update's state (updating, completed, paused, rollback_started, "
                "rollback_completed, ...), '' if never updated."
            ),
        ]
    ]
    versions: NotRequired[
        Annotated[
            list[VersionStatus],
            Field(description="Only for a function with several versions: each of them."),
        ]
    ]
    canary: NotRequired[
        Annotated[CanaryState, Field(description="Its canary, running or the last one's end.")]
    ]

    envVars: NotRequired[
        Annotated[dict[str, str], Field(description=f"{_DESCRIBE_ONLY}; without fprocess.")]
    ]
    constraints: NotRequired[Annotated[list[str], Field(description=_DESCRIBE_ONLY)]]
    secrets: NotRequired[Annotated[list[str], Field(description=_DESCRIBE_ONLY)]]
    limits: NotRequired[
        Annotated[FunctionResources | None, Field(description=f"{_DESCRIBE_ONLY}; null if none.")]
    ]
    requests: NotRequired[
        Annotated[FunctionResources | None, Field(description=f"{_DESCRIBE_ONLY}; null if none.")]
    ]
    readOnlyRootFilesystem: NotRequired[Annotated[bool, Field(description=_DESCRIBE_ONLY)]]


class Traffic(TypedDict):
    """A function's weights, as set."""

    message: str
    name: str
    weights: dict[str, int]


Seconds = Annotated[float, Field(ge=0)]


class RecentCalls(TypedDict):
    """A function's calls over the stats' window."""

    invocations: Count
    errors: Annotated[int, Field(ge=0, description="Calls answered with a 5xx status.")]
    rate: Annotated[float, Field(ge=0, description="Calls per second.")]
    p50: Annotated[
        Seconds | None,
        Field(
            description="Median duration, estimated from the histogram's buckets; "
            "null without calls."
        ),
    ]
    p99: Annotated[Seconds | None, Field(description="99th percentile, as p50.")]


class VersionStats(TypedDict):
    """One version's finished calls, as `FunctionStats` counts them."""

    version: str
    invocations: Count
    errors: Count
    recent: RecentCalls


class FunctionStats(TypedDict):
    """One function's finished calls: totals since the gateway started, and recent."""

    name: str
    invocations: Count
    errors: Count
    recent: RecentCalls
    versions: NotRequired[
        Annotated[
            list[VersionStats],
            Field(
                description="Each version's calls, for a function with several "
                "(docs/versions.md); the figures above are their sums."
            ),
        ]
    ]


class Stats(TypedDict):
    """What `GET /system/stats` answers."""

    time: Annotated[float, Field(description="When, in Unix seconds.")]
    window: Annotated[
        Seconds,
        Field(
            description="The seconds `recent` covers: the window asked for, or less "
            "while the gateway (or this worker's record) is younger than that."
        ),
    ]
    functions: list[FunctionStats]


class Accepted(TypedDict):
    """A change the orchestrator has taken on (it completes in the background)."""

    message: str
    name: str
    replicas: NotRequired[int]


class SecretListed(TypedDict):
    """A secret as `GET /system/secrets` lists it: its name only, never its value."""

    name: str


class SecretChanged(TypedDict):
    """A secret created, replaced or removed."""

    message: str
    name: str
    functions: NotRequired[
        Annotated[list[str], Field(description="Only from PUT: the functions rolled onto "
                                   "the new value (start-first rolling updates).")]
    ]  # fmt: skip


class Version(TypedDict):
    sha: Annotated[
        str,
        Field(
            description="The commit the gateway's image was built from "
            "(`-dirty`: with local changes; `unknown`: not built by "
            "`make images`)."
        ),
    ]
    release: str


class ProviderInfo(TypedDict):
    provider: str
    orchestration: str
    version: Version


class Info(TypedDict):
    """What `GET /system/info` answers."""

    provider: ProviderInfo
    version: Version
    arch: str


class Health(TypedDict):
    """What `GET /system/healthz` answers: `/healthz` with the provider's detail."""

    status: Literal["ok", "unavailable"]
    detail: str


class Error(TypedDict):
    """Every error the management API answers: one line naming the field or function."""

    error: str


AlertStatus = Literal["firing", "resolved"]


class Alert(TypedDict, total=False):
    status: AlertStatus
    labels: dict[str, str]


class AlertmanagerWebhook(TypedDict):
    """The part of Alertmanager's webhook JSON the gateway reads."""

    status: NotRequired[AlertStatus]
    alerts: list[Alert]


class AlertOutcome(TypedDict, total=False):
    function: str
    status: str
    replicas: int
    error: str
    code: int


class AlertOutcomes(TypedDict):
    alerts: list[AlertOutcome]


_INVALID = "Invalid JSON or field (the message names it)."
_NOT_FOUND = "No such function, or a namespace this gateway does not have."
_NO_NAMESPACE = "A namespace this gateway does not have (the message lists its own)."
_NAMESPACE_QUERY: dict[str, Any] = {
    "name": "namespace", "schema": {"type": "string"},
    "description": "As faas-cli sends it: empty or the gateway's namespace "
    "(GET /system/namespaces). A function name may also end in `.<namespace>`.",
}  # fmt: skip
_OFF_LIST = "The image is not on the gateway's allow-list."
_NO_SECRET = "No secret of that name was created through this API."
_NO_SECRETS = "The provider keeps no secrets (static provider)."
_ENGINE = "The orchestrator refused or failed."
_NO_TRAFFIC = "The provider cannot keep weights (static provider)."


@dataclass(frozen=True)
class Route:
    """One operation: its answer (a type, or a JSON Schema as is) and its error statuses."""

    method: str
    path: str
    operation_id: str
    summary: str
    status: int
    answer: Any
    answered: str
    errors: Mapping[int, str] = field(default_factory=dict)
    body: Any = None
    query: tuple[dict[str, Any], ...] = ()
    description: str = ""
    media_type: str = "application/json"


ROUTES = (
    Route("get", "/system/functions", "listFunctions", "List the functions",
          200, list[FunctionStatus], "Every function the gateway routes to.",
          query=(_NAMESPACE_QUERY,), errors={404: _NO_NAMESPACE}),
    Route("get", "/system/namespaces", "listNamespaces", "List the function namespaces",
          200, list[str], "The gateway's one namespace, as a list (OpenFaaS's shape)."),
    Route("post", "/system/functions", "deployFunction", "Deploy a new function",
          202, Accepted, "The service is being created.", body=FunctionDeployment,
          query=(_NAMESPACE_QUERY,),
          errors={400: _INVALID, 403: _OFF_LIST, 404: _NO_NAMESPACE,
                  409: "A function or service of that name exists.",
                  501: "The provider cannot deploy (static provider).",
                  502: "The orchestrator refused the deployment."}),
    Route("put", "/system/functions", "updateFunction", "Update a function (rolling, start-first)",
          202, Accepted, "The rolling update has started.", body=FunctionDeployment,
          query=(_NAMESPACE_QUERY,),
          errors={400: _INVALID, 403: _OFF_LIST, 404: _NOT_FOUND,
                  409: "The function was not deployed through this API.",
                  501: "The provider cannot update (static provider).",
                  502: "The orchestrator refused the update."}),
    Route("delete", "/system/functions", "deleteFunction", "Remove a function",
          202, Accepted, "The service is being removed.", body=DeleteFunctionRequest,
          query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid JSON or function name.", 404: _NOT_FOUND,
                  501: "The provider cannot remove (static provider).",
                  502: "The orchestrator refused the removal."}),
    Route("get", "/system/function/{name}", "describeFunction", "Describe one function",
          200, FunctionStatus, "The function.", query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid function name.", 404: _NOT_FOUND}),
    Route("put", "/system/functions/{name}/traffic", "setTraffic",
          "Set the weights of a function's versions",
          202, Traffic, "The weights are set (the gateways follow within a moment).",
          body={"type": "object", "additionalProperties": {"type": "integer", "minimum": 0,
                                                           "maximum": 100},
                "examples": [{"v1": 90, "v2": 10}]},
          description="A weight per version, integers summing to 100; versions left out "
          "get 0. Cancels a running canary. The weights replaced are kept for a rollback.",
          query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid JSON, an unknown version, or weights not summing to 100.",
                  404: _NOT_FOUND, 501: _NO_TRAFFIC, 502: _ENGINE}),
    Route("post", "/system/functions/{name}/promote", "promoteVersion",
          "Send every call to one version",
          202, Traffic, "The version gets 100.", body=PromoteRequest,
          query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid JSON or an unknown version.", 404: _NOT_FOUND,
                  501: _NO_TRAFFIC, 502: _ENGINE}),
    Route("post", "/system/functions/{name}/rollback", "rollbackTraffic",
          "Go back to the weights before the last change",
          202, Traffic, "The previous weights are set again.",
          description="A running canary is stopped and its weights from before it are set.",
          query=(_NAMESPACE_QUERY,),
          errors={404: _NOT_FOUND, 409: "No previous weights to go back to.",
                  501: _NO_TRAFFIC, 502: _ENGINE}),
    Route("post", "/system/functions/{name}/canary", "startCanary",
          "Shift calls to a version step by step, rolling back on a breach",
          202, Traffic, "The canary has started (its first step comes after `every`).",
          body=CanaryRequest,
          description="The gateway's controller (one process in the cluster: the one that "
          "runs the autoscaler) raises the version's weight by `step` every `every` while "
          "its 5xx rate and p99 latency over the step stay within bounds, promotes it at "
          "100, and otherwise sets the weights from before the canary again "
          "(docs/versions.md). GET /system/function/{name} shows its steps.",
          query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid JSON or field, an unknown version, or one that has all "
                  "the calls already.", 404: _NOT_FOUND,
                  409: "The autoscaler, which steps canaries, is off (GATEWAY_AUTOSCALE).",
                  501: _NO_TRAFFIC, 502: _ENGINE}),
    Route("delete", "/system/functions/{name}/canary", "abortCanary",
          "Stop a canary, back to the weights before it",
          202, Traffic, "The weights from before the canary are set again.",
          query=(_NAMESPACE_QUERY,),
          errors={404: _NOT_FOUND, 409: "No canary is running.",
                  501: _NO_TRAFFIC, 502: _ENGINE}),
    Route("post", "/system/scale-function/{name}", "scaleFunction", "Set a function's replicas",
          202, Accepted, "The replica count is being changed.", body=ScaleRequest,
          query=(_NAMESPACE_QUERY,),
          errors={400: "Invalid JSON, name or replica count.", 404: _NOT_FOUND,
                  501: "The provider cannot scale (static provider).",
                  502: "The orchestrator refused the change."}),
    Route("get", "/system/logs", "functionLogs", "A function's logs",
          200, {"type": "string"}, "Newline-delimited JSON: objects with name, namespace, "
          "instance (the task id), timestamp (RFC 3339) and text (OpenFaaS's log message).",
          media_type="application/x-ndjson",
          description="What the function's replicas wrote to stdout and stderr, one JSON "
          "object per line, oldest first. With follow=true the answer stays open and new "
          "lines are added as they appear (read every second).",
          query=(
              {"name": "tail", "schema": {"type": "integer", "maximum": MAX_TAIL,
                                          "not": {"const": 0}},
               "description": "At most this many lines, the newest; absent or negative "
               f"(faas-cli sends -1): every line, up to the newest {MAX_TAIL}."},
              {"name": "since", "schema": {"type": "string", "format": "date-time"},
               "description": "Only lines from this time on (RFC 3339)."},
              {"name": "follow", "schema": {"type": "boolean"},
               "description": "Keep the answer open for new lines."},
              {"name": "instance", "schema": {"type": "string"},
               "description": "Only this replica's lines (its task id, or the first "
               "characters of it as the lines show it)."},
              _NAMESPACE_QUERY,
          ),
          errors={400: "Invalid name, tail, since or follow.", 404: _NOT_FOUND,
                  501: "The provider has no logs (static provider).",
                  502: "The orchestrator refused the request."}),
    Route("get", "/system/secrets", "listSecrets", "List the secrets (names only)",
          200, list[SecretListed], "The secrets created through this API.",
          errors={501: _NO_SECRETS, 502: _ENGINE}),
    Route("post", "/system/secrets", "createSecret", "Create a secret",
          201, SecretChanged, "The secret exists: functions may mount it.", body=Secret,
          errors={400: _INVALID, 409: "A secret (or a Docker secret) of that name exists.",
                  501: _NO_SECRETS, 502: _ENGINE}),
    Route("put", "/system/secrets", "updateSecret", "Replace a secret's value",
          200, SecretChanged, "A new version holds the value; the functions that mount "
          "the secret are rolling onto it.", body=Secret,
          description="Docker secrets cannot change: a new version is created and each "
          "function that mounts the secret gets a rolling update onto it (docs/management.md"
          ", Rotation).",
          errors={400: _INVALID, 404: _NO_SECRET, 501: _NO_SECRETS, 502: _ENGINE}),
    Route("delete", "/system/secrets", "deleteSecret", "Remove a secret",
          200, SecretChanged, "The secret is gone.", body=SecretDescription,
          errors={400: "Invalid JSON or secret name.", 404: _NO_SECRET,
                  409: "A function still mounts the secret.",
                  501: _NO_SECRETS, 502: _ENGINE}),
    Route("get", "/system/stats", "functionStats", "Calls, errors and latency per function",
          200, Stats, "Every function the gateway routes to (or the one named).",
          description="From the gateway's own counters (no Prometheus needed): totals since "
          "the gateway started, and the last `window` seconds, as well as the readings "
          "kept allow (one every few seconds, taken when asked).",
          query=(
              {"name": "window", "schema": {"type": "integer", "minimum": 1,
                                            "maximum": MAX_WINDOW},
               "description": f"Seconds of recent calls ({DEFAULT_WINDOW} by default)."},
              {"name": "name", "schema": {"type": "string"},
               "description": "Only this function."},
          ),
          errors={400: "Invalid window."}),
    Route("get", "/system/info", "systemInfo", "Provider, orchestration and version",
          200, Info, "About the gateway."),
    Route("get", "/system/healthz", "systemHealth", "The gateway's health, with detail",
          200, Health, "The provider has a usable view of the functions.",
          description="Like /healthz, plus the provider's detail (e.g. the Docker engine's "
          "address and last error), which /healthz does not show without credentials.",
          errors={503: "The provider has no usable view (the answer is a Health too), or "
                  "no credentials are configured."}),
    Route("post", "/system/alert", "alert", "Scale on Alertmanager's webhook",
          200, AlertOutcomes, "What each alert did.", body=AlertmanagerWebhook,
          description="Each alert names its function in the label 'function_name' (or "
          "'service'). 'firing' scales up by com.faas.scale.factor percent of the maximum, "
          "'resolved' back to the minimum. Per-alert problems are reported in the answer.",
          errors={400: "Invalid JSON, or no 'alerts' list.",
                  413: "A body over 1 MiB.",
                  503: "Autoscaling is off, or no credentials are configured."}),
    Route("get", "/system/openapi.json", "openapi", "This document",
          200, {"type": "object"}, "The OpenAPI document."),
)  # fmt: skip

_ALWAYS = {
    401: "No or wrong credentials (HTTP basic auth).",
    503: "The management API is disabled: no credentials are configured.",
}


class _Untitled(GenerateJsonSchema):
    """Leaves out the titles pydantic derives from field names: they say nothing new."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document; `version` is the gateway's release."""
    types = [t for r in ROUTES for t in (r.answer, r.body) if t is not None]
    typed = dict.fromkeys([*(t for t in types if not isinstance(t, dict)), Error])
    refs, definitions = TypeAdapter.json_schemas(
        [(t, "validation", TypeAdapter(t)) for t in typed],
        ref_template="#/components/schemas/{model}",
        schema_generator=_Untitled,
    )
    schemas = {t: schema for (t, _), schema in refs.items()}

    def content(of: Any, media_type: str = "application/json") -> dict[str, Any]:
        schema = of if isinstance(of, dict) else schemas[of]
        return {media_type: {"schema": schema}}

    name_schema = TypeAdapter(FunctionName).json_schema()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {"summary": route.summary, "operationId": route.operation_id}
        if route.description:
            operation["description"] = route.description
        parameters = [{"in": "query", **parameter} for parameter in route.query]
        if "{name}" in route.path or route.path == "/system/logs":
            where = "path" if "{name}" in route.path else "query"
            parameters.insert(0, {"name": "name", "in": where, "required": True,
                                  "schema": name_schema})  # fmt: skip
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": content(route.body)}
        answer = {"description": route.answered, "content": content(route.answer, route.media_type)}
        errors = {**_ALWAYS, **route.errors}
        operation["responses"] = {
            str(route.status): answer,
            **{str(status): {"description": text, "content": content(Error)}
               for status, text in sorted(errors.items())},
        }  # fmt: skip
        paths.setdefault(route.path, {})[route.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "faas gateway management API",
            "version": version,
            "description": "Deploy, update, scale, list and remove functions. Every path "
            "needs HTTP basic auth. Field names follow OpenFaaS's FunctionDeployment.",
        },
        "security": [{"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": definitions.get("$defs", {}),
        },
    }
