"""Every `/system` operation, declared once: its route, endpoint, bodies' types and what
the OpenAPI document says of it. `create_system_app` builds the router from this list
and `openapi_document` the document; the endpoints live by resource beside it
(`functions`, `traffic`, `scale`, `secret_routes`, `namespace_routes`, `logs`, `stats`,
`about`, and
`gateway.async_calls.api`).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from gateway.api_types.answers import (
    Accepted,
    AlertOutcomes,
    DeadLetter,
    DeadLetters,
    Deleted,
    Fired,
    FunctionStatus,
    Health,
    Info,
    LoadReport,
    NamespaceDescription,
    Purged,
    Redriven,
    SecretChanged,
    SecretListed,
    Stats,
    Traffic,
    Triggers,
)
from gateway.api_types.bodies import (
    AlertmanagerWebhook,
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionNamespace,
    ScaleRequest,
    Secret,
    SecretDescription,
)
from gateway.async_calls import api as async_api
from gateway.async_calls.messages import CALL_ID_PATTERN, CallStatus
from gateway.deployments import FunctionName
from gateway.management import (
    about,
    functions,
    logs,
    namespace_routes,
    prometheus,
    scale,
    secret_routes,
    stats,
    traffic,
)
from gateway.management.logs import MAX_SINCE_AHEAD, MAX_TAIL, TASK_ID_PATTERN
from gateway.management.operations import ALERT, ASYNC, Operation
from gateway.management.stats import DEFAULT_WINDOW, MAX_WINDOW
from gateway.namespaces import NAMESPACE_PATTERN
from gateway.triggers import api as triggers_api
from gateway.versions.requests import CanaryRequest, PromoteRequest

_INVALID = "Invalid JSON or field (the message names it)."
_NOT_FOUND = "No such function, or a namespace this gateway does not have."
_NO_NAMESPACE = "A namespace this gateway does not have (the message lists its own)."
_NAMESPACE_QUERY: dict[str, Any] = {
    "name": "namespace", "schema": {"type": "string"},
    "description": "As faas-cli sends it: empty or the gateway's namespace "
    "(GET /system/namespaces). A function name may also end in `.<namespace>`.",
}  # fmt: skip
_SECRETS_NAMESPACE_QUERY: dict[str, Any] = {
    **_NAMESPACE_QUERY,
    "description": "As faas-cli sends it: empty or the gateway's namespace "
    "(GET /system/namespaces), like the body's `namespace`; another is a 404.",
}
_OFF_LIST = "The image is not on the gateway's allow-list."
_NO_SECRET = (
    "No secret of that name was created through this API, or a namespace this gateway "
    "does not have."
)
_NO_SECRETS = "The provider keeps no secrets (static provider)."
_ENGINE = "The orchestrator refused or failed."
_NO_TRAFFIC = "The provider cannot keep weights (static provider)."
_NO_ASYNC = "Async calls are switched off (GATEWAY_NATS_URL), or no credentials are configured."
_CALL_ID = "Invalid call id."
_NO_DEAD = "No dead-lettered call of that id."
_FUNCTION_NAME = TypeAdapter(FunctionName).json_schema()
_NAMESPACES = (
    "A namespace besides the default: on Swarm a config and an overlay network of its own "
    "(docs/management.md, Namespaces). The labels com.faas.limit.functions, "
    "com.faas.limit.replicas and com.faas.limit.memory bound what its functions may take."
)
_INVALID_NAMESPACE = (
    "Invalid JSON or field (the message names it), an invalid limit label, or a body's name "
    "that is not the path's."
)
_NAMESPACE_ERRORS = {501: "The provider keeps no namespaces (static provider).", 502: _ENGINE}


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/functions", functions.list_functions, "listFunctions", "List the functions",
              200, list[FunctionStatus], "Every function the gateway routes to.",
              query=(_NAMESPACE_QUERY,), errors={404: _NO_NAMESPACE}),
    Operation("GET", "/namespaces", namespace_routes.list_namespaces, "listNamespaces",
              "List the function namespaces",
              200, list[str], "Every namespace's name, the default first (OpenFaaS's shape)."),
    Operation("POST", "/namespace", namespace_routes.create_namespace, "createNamespace",
              "Create a namespace", 201, NamespaceDescription, "It exists, with its network.",
              request=FunctionNamespace, description=_NAMESPACES,
              errors={400: _INVALID_NAMESPACE, 409: "A namespace of that name exists (the "
                      "default included), or a network of its name that is not its own.",
                      **_NAMESPACE_ERRORS}),
    Operation("POST", "/namespace/", namespace_routes.create_namespace, "createNamespaceSlash",
              "Create a namespace (faas-cli's path)", 201, NamespaceDescription,
              "It exists, with its network.", request=FunctionNamespace,
              description="As POST /system/namespace.",
              errors={400: _INVALID_NAMESPACE, 409: "A namespace of that name exists.",
                      **_NAMESPACE_ERRORS}),
    Operation("GET", "/namespace/{namespace}", namespace_routes.get_namespace, "getNamespace",
              "Read a namespace", 200, NamespaceDescription, "Its labels and annotations.",
              errors={404: _NO_NAMESPACE, **_NAMESPACE_ERRORS}),
    Operation("PUT", "/namespace/{namespace}", namespace_routes.update_namespace,
              "updateNamespace", "Replace a namespace's labels and annotations",
              202, NamespaceDescription, "Its record as it now is.", request=FunctionNamespace,
              errors={400: _INVALID_NAMESPACE + " Or the default namespace.",
                      404: _NO_NAMESPACE,
                      409: "It changed while it was being updated: try again.",
                      **_NAMESPACE_ERRORS}),
    Operation("DELETE", "/namespace/{namespace}", namespace_routes.remove_namespace,
              "deleteNamespace", "Remove an empty namespace", 202, Accepted,
              "It is gone (its network goes as soon as the engine lets it).",
              request=FunctionNamespace,
              errors={400: _INVALID_NAMESPACE + " Or the default namespace.",
                      404: _NO_NAMESPACE,
                      409: "It still holds functions or secrets (the message names them).",
                      **_NAMESPACE_ERRORS}),
    Operation("POST", "/functions", functions.deploy, "deployFunction", "Deploy a new function",
              202, Accepted, "The service is being created.", request=FunctionDeployment,
              query=(_NAMESPACE_QUERY,),
              errors={400: _INVALID, 403: _OFF_LIST, 404: _NO_NAMESPACE,
                      409: "A function or service of that name exists, or another function "
                           "has a custom domain it claims (com.faas.domain).",
                      501: "The provider cannot deploy (static provider).",
                      502: "The orchestrator refused the deployment."}),
    Operation("PUT", "/functions", functions.update, "updateFunction",
              "Update a function (rolling, start-first)",
              202, Accepted, "The rolling update has started.", request=FunctionDeployment,
              query=(_NAMESPACE_QUERY,),
              errors={400: _INVALID, 403: _OFF_LIST, 404: _NOT_FOUND,
                      409: "The function was not deployed through this API, or another "
                           "function has a custom domain it claims (com.faas.domain).",
                      501: "The provider cannot update (static provider).",
                      502: "The orchestrator refused the update."}),
    Operation("DELETE", "/functions", functions.remove, "deleteFunction", "Remove a function",
              202, Accepted, "The service is being removed.", request=DeleteFunctionRequest,
              query=(_NAMESPACE_QUERY,),
              errors={400: "Invalid JSON or function name.", 404: _NOT_FOUND,
                      501: "The provider cannot remove (static provider).",
                      502: "The orchestrator refused the removal."}),
    Operation("GET", "/function/{name}", functions.describe_function, "describeFunction",
              "Describe one function",
              200, FunctionStatus, "The function.", query=(_NAMESPACE_QUERY,),
              errors={400: "Invalid function name.", 404: _NOT_FOUND}),
    Operation("PUT", "/functions/{name}/traffic", traffic.set_traffic, "setTraffic",
              "Set the weights of a function's versions",
              202, Traffic, "The weights are set (the gateways follow within a moment).",
              request={"type": "object",
                       "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
                       "examples": [{"v1": 90, "v2": 10}]},
              description="A weight per version, integers summing to 100; versions left out "
              "get 0. Cancels a running canary. The weights replaced are kept for a rollback.",
              query=(_NAMESPACE_QUERY,),
              errors={400: "Invalid JSON, an unknown version, or weights not summing to 100.",
                      404: _NOT_FOUND, 501: _NO_TRAFFIC, 502: _ENGINE}),
    Operation("POST", "/functions/{name}/promote", traffic.promote, "promoteVersion",
              "Send every call to one version",
              202, Traffic, "The version gets 100.", request=PromoteRequest,
              query=(_NAMESPACE_QUERY,),
              errors={400: "Invalid JSON or an unknown version.", 404: _NOT_FOUND,
                      501: _NO_TRAFFIC, 502: _ENGINE}),
    Operation("POST", "/functions/{name}/rollback", traffic.rollback, "rollbackTraffic",
              "Go back to the weights before the last change",
              202, Traffic, "The previous weights are set again.",
              description="A running canary is stopped and its weights from before it are set.",
              query=(_NAMESPACE_QUERY,),
              errors={404: _NOT_FOUND, 409: "No previous weights to go back to.",
                      501: _NO_TRAFFIC, 502: _ENGINE}),
    Operation("POST", "/functions/{name}/canary", traffic.start_canary, "startCanary",
              "Shift calls to a version step by step, rolling back on a breach",
              202, Traffic, "The canary has started (its first step comes after `every`).",
              request=CanaryRequest,
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
    Operation("DELETE", "/functions/{name}/canary", traffic.abort_canary, "abortCanary",
              "Stop a canary, back to the weights before it",
              202, Traffic, "The weights from before the canary are set again.",
              query=(_NAMESPACE_QUERY,),
              errors={404: _NOT_FOUND, 409: "No canary is running.",
                      501: _NO_TRAFFIC, 502: _ENGINE}),
    Operation("POST", "/scale-function/{name}", scale.scale, "scaleFunction",
              "Set a function's replicas",
              202, Accepted, "The replica count is being changed.", request=ScaleRequest,
              query=(_NAMESPACE_QUERY,),
              errors={400: "Invalid JSON, name or replica count.", 404: _NOT_FOUND,
                      501: "The provider cannot scale (static provider).",
                      502: "The orchestrator refused the change."}),
    Operation("GET", "/logs", logs.function_logs, "functionLogs", "A function's logs",
              200, {"type": "string"}, "Newline-delimited JSON: objects with name, namespace, "
              "instance (the task id), timestamp (RFC 3339) and text (OpenFaaS's log message).",
              media_type="application/x-ndjson",
              description="What the function's replicas wrote to stdout and stderr, one JSON "
              "object per line, oldest first. With follow=true the answer stays open and new "
              "lines are added as they appear (read every second).",
              query=(
                  {"name": "name", "required": True, "schema": _FUNCTION_NAME},
                  {"name": "tail", "schema": {"type": "integer", "maximum": MAX_TAIL,
                                              "not": {"const": 0}},
                   "description": "At most this many lines, the newest; absent or negative "
                   f"(faas-cli sends -1): every line, up to the newest {MAX_TAIL}."},
                  {"name": "since", "schema": {"type": "string", "format": "date-time"},
                   "description": "Only lines from this time on (RFC 3339, with a zone): "
                   f"from 1970 to {MAX_SINCE_AHEAD:g} s ahead of the gateway's clock."},
                  {"name": "follow", "schema": {"type": "boolean"},
                   "description": "Keep the answer open for new lines."},
                  {"name": "instance",
                   "schema": {"type": "string", "pattern": f"^{TASK_ID_PATTERN}$"},
                   "description": "Only this replica's lines (its task id, or the first "
                   "characters of it as the lines show it)."},
                  _NAMESPACE_QUERY,
              ),
              errors={400: "Invalid name, tail, since, follow or instance.", 404: _NOT_FOUND,
                      501: "The provider has no logs (static provider).",
                      502: "The orchestrator failed to read the logs (the gateway's log "
                      "says why)."}),
    Operation("GET", "/secrets", secret_routes.list_secrets, "listSecrets",
              "List the secrets (names only)",
              200, list[SecretListed], "The secrets created through this API.",
              query=(_SECRETS_NAMESPACE_QUERY,),
              errors={404: _NO_NAMESPACE, 501: _NO_SECRETS, 502: _ENGINE}),
    Operation("POST", "/secrets", secret_routes.create_secret, "createSecret", "Create a secret",
              201, SecretChanged, "The secret exists: functions may mount it.", request=Secret,
              query=(_SECRETS_NAMESPACE_QUERY,),
              errors={400: _INVALID, 404: _NO_NAMESPACE,
                      409: "A secret (or a Docker secret) of that name exists.",
                      501: _NO_SECRETS, 502: _ENGINE}),
    Operation("PUT", "/secrets", secret_routes.update_secret, "updateSecret",
              "Replace a secret's value",
              200, SecretChanged, "A new version holds the value; the functions that mount "
              "the secret are rolling onto it.", request=Secret,
              description="Docker secrets cannot change: a new version is created and each "
              "function that mounts the secret gets a rolling update onto it (docs/management.md"
              ", Rotation).",
              query=(_SECRETS_NAMESPACE_QUERY,),
              errors={400: _INVALID, 404: _NO_SECRET, 501: _NO_SECRETS, 502: _ENGINE}),
    Operation("DELETE", "/secrets", secret_routes.remove_secret, "deleteSecret", "Remove a secret",
              200, SecretChanged, "The secret is gone.", request=SecretDescription,
              query=(_SECRETS_NAMESPACE_QUERY,),
              errors={400: "Invalid JSON or secret name.", 404: _NO_SECRET,
                      409: "A function still mounts the secret.",
                      501: _NO_SECRETS, 502: _ENGINE}),
    Operation("GET", "/stats", stats.function_stats, "functionStats",
              "Calls, errors and latency per function",
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
    Operation("GET", "/info", about.info, "systemInfo", "Provider, orchestration and version",
              200, Info, "About the gateway."),
    Operation("GET", "/healthz", about.healthz, "systemHealth", "The gateway's health, with detail",
              200, Health, "The provider has a usable view of the functions.",
              description="Like /healthz, plus the provider's detail (e.g. the Docker engine's "
              "address and last error), which /healthz does not show without credentials.",
              errors={503: "The provider has no usable view (the answer is a Health too), or "
                      "no credentials are configured."}),
    Operation("POST", "/alert", scale.alert, "alert", "Scale on Alertmanager's webhook",
              200, AlertOutcomes, "What each alert did.", request=AlertmanagerWebhook,
              description="Each alert names its function in the label 'function_name' (or "
              "'service'). 'firing' scales up by com.faas.scale.factor percent of the maximum, "
              "'resolved' back to the minimum. Per-alert problems are reported in the answer.",
              errors={400: "Invalid JSON, or no 'alerts' list.",
                      503: "Autoscaling is off, or no credentials are configured."},
              guard=ALERT),
    Operation("GET", "/load", scale.load, "gatewayLoad", "This gateway container's load",
              200, LoadReport, "Calls and alert floors, summed over its workers.",
              description="What the elected autoscaler reads of every other gateway container "
              "before each pass (docs/scaling.md, \"One autoscaler\"): an id unique per start of "
              "the container, calls started and in flight per function, and the last alert "
              "webhook per function (replicas 0: resolved).",
              errors={503: "Autoscaling is off, or no credentials are configured."}),
    Operation("GET", "/prometheus/api/v1/{endpoint}", prometheus.prometheus_api, "prometheusQuery",
              "Prometheus's query API", 200, {"type": "object"},
              "Prometheus's answer, as it gave it (its status and JSON).",
              description="Forwarded to GATEWAY_PROMETHEUS_URL (the stack's Prometheus, which "
              "it does not publish): GET only, the query string as sent, an answer of at most "
              f"{prometheus.ANSWER_LIMIT // (1024 * 1024)} MiB within "
              f"{prometheus.TIMEOUT_SECONDS:g} s.",
              errors={404: "No Prometheus is configured, or not a query endpoint.",
                      502: "Prometheus did not answer, or answered too much."}),
    Operation("GET", "/openapi.json", about.openapi, "openapi", "This document",
              200, {"type": "object"}, "The OpenAPI document."),
    # Triggers (docs/triggers.md).
    Operation("GET", "/triggers", triggers_api.list_triggers, "listTriggers",
              "Every function's triggers", 200, Triggers,
              "Each trigger, with a schedule's next runs, and the trigger labels left out "
              "as invalid."),
    Operation("POST", "/triggers/{name}/fire", triggers_api.fire_trigger, "fireTrigger",
              "Fire a function's trigger once, now", 202, Fired,
              "The async call it queued.",
              query=({"name": "trigger", "schema": {"type": "string"},
                      "description": "The trigger; may be left out when the function has "
                      "one."},),
              description="The call is the trigger's (its headers, a schedule's body), "
              "queued on the async path whatever the trigger's mode; a request body, if "
              "sent, is the call's body.",
              errors={400: "Several triggers and none named.",
                      404: _NOT_FOUND + " Or no such trigger.", 503: _NO_ASYNC}),
    # Async calls (docs/async.md): first the dead-letter queue, then a call by id (a
    # path the queue's own would otherwise match).
    Operation("GET", "/async/dlq", async_api.list_dead_letters, "listDeadLetters",
              "List the dead-lettered async calls", 200, DeadLetters,
              "A page of them, oldest first, without their bodies.",
              query=(
                  {"name": "limit", "schema": {"type": "integer", "minimum": 1,
                                               "maximum": async_api.MAX_LIST_LIMIT},
                   "description": f"At most this many ({async_api.DEFAULT_LIST_LIMIT} by "
                   "default)."},
                  {"name": "after", "schema": {"type": "integer", "minimum": 0},
                   "description": "Only those after this place in the queue (a page's "
                   "`next`)."},
              ),
              errors={400: "Invalid limit or after.", 503: _NO_ASYNC}, guard=ASYNC),
    Operation("DELETE", "/async/dlq", async_api.purge_dead_letters, "purgeDeadLetters",
              "Drop every dead-lettered call", 200, Purged, "How many were dropped.",
              errors={503: _NO_ASYNC}, guard=ASYNC),
    Operation("POST", "/async/dlq/redrive", async_api.redrive_all, "redriveDeadLetters",
              "Queue the dead-lettered calls again", 202, Redriven,
              "Those queued again; `more`: call again for the rest.",
              description="Their attempts start over. Stops after a while on a long queue "
              "(`more` is then true).",
              errors={503: _NO_ASYNC}, guard=ASYNC),
    Operation("GET", "/async/dlq/{call_id}", async_api.show_dead_letter, "showDeadLetter",
              "One dead-lettered call, with its request", 200, DeadLetter, "The call.",
              errors={400: _CALL_ID, 404: _NO_DEAD, 503: _NO_ASYNC}, guard=ASYNC),
    Operation("DELETE", "/async/dlq/{call_id}", async_api.delete_dead_letter,
              "deleteDeadLetter", "Drop one dead-lettered call", 200, Deleted, "It is gone.",
              errors={400: _CALL_ID, 404: _NO_DEAD, 503: _NO_ASYNC}, guard=ASYNC),
    Operation("POST", "/async/dlq/{call_id}/redrive", async_api.redrive_one,
              "redriveDeadLetter", "Queue one dead-lettered call again", 202, Redriven,
              "It is queued again, its attempts starting over.",
              errors={400: _CALL_ID, 404: _NO_DEAD, 503: _NO_ASYNC}, guard=ASYNC),
    Operation("GET", "/async/{call_id}", async_api.call_status, "asyncCallStatus",
              "An async call's state and result", 200, CallStatus,
              "Queued, running (attempt n), succeeded or failed; the status, duration and "
              "(small) body once it ran.",
              errors={400: _CALL_ID, 404: "No such call, or past its status retention.",
                      503: _NO_ASYNC}, guard=ASYNC),
)  # fmt: skip

PATH_SCHEMAS: dict[str, Any] = {
    "name": _FUNCTION_NAME,
    "call_id": {"type": "string", "pattern": f"^{CALL_ID_PATTERN.pattern}$"},
    "endpoint": {"type": "string", "enum": list(prometheus.ENDPOINTS)},
    "namespace": {"type": "string", "pattern": f"^{NAMESPACE_PATTERN.pattern}$"},
}
"""The JSON Schema of each path parameter."""
