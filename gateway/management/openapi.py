"""The OpenAPI 3.0 document of the management API, served at `GET /system/openapi.json`."""

from __future__ import annotations

from typing import Any

from gateway.management.deployments import MAX_REPLICAS
from gateway.management.logs import DEFAULT_TAIL, MAX_TAIL

_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_RESOURCES: dict[str, Any] = {
    "type": "object",
    "description": "Memory as '128Mi', '64M' or bytes; cpu in cores ('0.5') or "
    "millicores ('500m').",
    "properties": {"memory": {"type": "string"}, "cpu": {"type": "string"}},
    "additionalProperties": False,
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


_UNAUTHORIZED = _error("No or wrong credentials (HTTP basic auth).")
_DISABLED = _error("The management API is disabled: no credentials are configured.")
_NAME_PARAMETER: dict[str, Any] = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The function's full name, or its short name without the stack prefix.",
}


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document; `version` is the gateway's release."""
    common = {"401": _UNAUTHORIZED, "503": _DISABLED}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "faas gateway management API",
            "version": version,
            "description": "Deploy, update, scale, list and remove functions. Every path "
            "needs HTTP basic auth. Field names follow OpenFaaS's FunctionDeployment.",
        },
        "security": [{"basicAuth": []}],
        "paths": {
            "/system/functions": {
                "get": {
                    "summary": "List the functions",
                    "operationId": "listFunctions",
                    "responses": {
                        "200": {
                            "description": "Every function the gateway routes to.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/FunctionStatus"},
                                    }
                                }
                            },
                        },
                        **common,
                    },
                },
                "post": {
                    "summary": "Deploy a new function",
                    "operationId": "deployFunction",
                    "requestBody": _body("FunctionDeployment"),
                    "responses": {
                        "202": _json("Accepted", "The service is being created."),
                        "400": _error("Invalid JSON or field (the message names it)."),
                        "403": _error("The image is not on the gateway's allow-list."),
                        "409": _error("A function or service of that name exists."),
                        "501": _error("The provider cannot deploy (static provider)."),
                        "502": _error("The orchestrator refused the deployment."),
                        **common,
                    },
                },
                "put": {
                    "summary": "Update a function (rolling, start-first)",
                    "operationId": "updateFunction",
                    "requestBody": _body("FunctionDeployment"),
                    "responses": {
                        "202": _json("Accepted", "The rolling update has started."),
                        "400": _error("Invalid JSON or field (the message names it)."),
                        "403": _error("The image is not on the gateway's allow-list."),
                        "404": _error("No such function."),
                        "409": _error("The function was not deployed through this API."),
                        "501": _error("The provider cannot update (static provider)."),
                        "502": _error("The orchestrator refused the update."),
                        **common,
                    },
                },
                "delete": {
                    "summary": "Remove a function",
                    "operationId": "deleteFunction",
                    "requestBody": _body("DeleteFunctionRequest"),
                    "responses": {
                        "202": _json("Accepted", "The service is being removed."),
                        "400": _error("Invalid JSON or function name."),
                        "404": _error("No such function."),
                        "501": _error("The provider cannot remove (static provider)."),
                        "502": _error("The orchestrator refused the removal."),
                        **common,
                    },
                },
            },
            "/system/function/{name}": {
                "get": {
                    "summary": "Describe one function",
                    "operationId": "describeFunction",
                    "parameters": [_NAME_PARAMETER],
                    "responses": {
                        "200": _json("FunctionStatus", "The function."),
                        "400": _error("Invalid function name."),
                        "404": _error("No such function."),
                        **common,
                    },
                },
            },
            "/system/scale-function/{name}": {
                "post": {
                    "summary": "Set a function's replicas",
                    "operationId": "scaleFunction",
                    "parameters": [_NAME_PARAMETER],
                    "requestBody": _body("ScaleRequest"),
                    "responses": {
                        "202": _json("Accepted", "The replica count is being changed."),
                        "400": _error("Invalid JSON, name or replica count."),
                        "404": _error("No such function."),
                        "501": _error("The provider cannot scale (static provider)."),
                        "502": _error("The orchestrator refused the change."),
                        **common,
                    },
                },
            },
            "/system/logs": {
                "get": {
                    "summary": "A function's logs",
                    "operationId": "functionLogs",
                    "description": "What the function's replicas wrote to stdout and "
                    "stderr, one JSON object per line, oldest first. With follow=true "
                    "the answer stays open and new lines are added as they appear "
                    "(read every second).",
                    "parameters": [
                        {**_NAME_PARAMETER, "in": "query"},
                        {
                            "name": "tail",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TAIL},
                            "description": f"At most this many lines, the newest "
                            f"({DEFAULT_TAIL} by default).",
                        },
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                            "description": "Only lines from this time on (RFC 3339).",
                        },
                        {
                            "name": "follow",
                            "in": "query",
                            "schema": {"type": "boolean"},
                            "description": "Keep the answer open for new lines.",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Newline-delimited JSON: objects with name, "
                            "instance (the task id), timestamp (RFC 3339) and text.",
                            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                        },
                        "400": _error("Invalid name, tail, since or follow."),
                        "404": _error("No such function."),
                        "501": _error("The provider has no logs (static provider)."),
                        "502": _error("The orchestrator refused the request."),
                        **common,
                    },
                },
            },
            "/system/info": {
                "get": {
                    "summary": "Provider, orchestration and version",
                    "operationId": "systemInfo",
                    "responses": {"200": _json("Info", "About the gateway."), **common},
                },
            },
            "/system/alert": {
                "post": {
                    "summary": "Scale on Alertmanager's webhook",
                    "operationId": "alert",
                    "description": "Each alert names its function in the label "
                    "'function_name' (or 'service'). 'firing' scales up by "
                    "com.faas.scale.factor percent of the maximum, 'resolved' back to "
                    "the minimum. Per-alert problems are reported in the answer.",
                    "requestBody": _body("AlertmanagerWebhook"),
                    "responses": {
                        "200": _json("AlertOutcomes", "What each alert did."),
                        "400": _error("Invalid JSON, or no 'alerts' list."),
                        "401": _UNAUTHORIZED,
                        "503": _error("Autoscaling is off, or no credentials are configured."),
                    },
                },
            },
            "/system/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **common,
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "AlertmanagerWebhook": {
                    "type": "object",
                    "required": ["alerts"],
                    "properties": {
                        "status": {"type": "string", "enum": ["firing", "resolved"]},
                        "alerts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string", "enum": ["firing", "resolved"]},
                                    "labels": _STRING_MAP,
                                },
                            },
                        },
                    },
                },
                "AlertOutcomes": {
                    "type": "object",
                    "required": ["alerts"],
                    "properties": {
                        "alerts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "function": {"type": "string"},
                                    "status": {"type": "string"},
                                    "replicas": {"type": "integer"},
                                    "error": {"type": "string"},
                                    "code": {"type": "integer"},
                                },
                            },
                        },
                    },
                },
                "FunctionDeployment": {
                    "type": "object",
                    "required": ["service", "image"],
                    "additionalProperties": False,
                    "properties": {
                        "service": {
                            "type": "string",
                            "description": "The function's name: a DNS label.",
                            "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                        },
                        "image": {"type": "string", "example": "localhost/faas/hello:latest"},
                        "envProcess": {
                            "type": "string",
                            "description": "The watchdog's fprocess.",
                        },
                        "envVars": _STRING_MAP,
                        "labels": _STRING_MAP,
                        "annotations": _STRING_MAP,
                        "constraints": {
                            "type": "array",
                            "items": {"type": "string"},
                            "example": ["node.role == manager"],
                        },
                        "secrets": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Names of existing Docker secrets.",
                        },
                        "limits": _RESOURCES,
                        "requests": _RESOURCES,
                        "readOnlyRootFilesystem": {"type": "boolean"},
                        "namespace": {"type": "string", "description": "Accepted, ignored."},
                        "network": {"type": "string", "description": "Accepted, ignored."},
                    },
                },
                "FunctionStatus": {
                    "type": "object",
                    "required": [
                        "name", "image", "namespace", "envProcess", "labels",
                        "annotations", "replicas", "availableReplicas", "invocationCount",
                    ],
                    "properties": {
                        "name": {"type": "string"},
                        "image": {"type": "string"},
                        "namespace": {"type": "string"},
                        "envProcess": {"type": "string"},
                        "labels": _STRING_MAP,
                        "annotations": _STRING_MAP,
                        "replicas": {"type": "integer", "minimum": 0},
                        "availableReplicas": {"type": "integer", "minimum": 0},
                        "invocationCount": {"type": "integer", "minimum": 0},
                        "updateState": {
                            "type": "string",
                            "description": "Only from GET /system/function/{name}: the "
                            "latest rolling update's state (updating, completed, paused, "
                            "rollback_started, rollback_completed, ...), '' if never updated.",
                        },
                    },
                },
                "DeleteFunctionRequest": {
                    "type": "object",
                    "required": ["functionName"],
                    "properties": {"functionName": {"type": "string"}},
                },
                "ScaleRequest": {
                    "type": "object",
                    "required": ["replicas"],
                    "properties": {
                        "serviceName": {"type": "string"},
                        "replicas": {"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS},
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["message", "name"],
                    "properties": {
                        "message": {"type": "string"},
                        "name": {"type": "string"},
                        "replicas": {"type": "integer"},
                    },
                },
                "Info": {
                    "type": "object",
                    "required": ["provider", "version"],
                    "properties": {
                        "provider": {
                            "type": "object",
                            "properties": {
                                "provider": {"type": "string"},
                                "orchestration": {"type": "string"},
                                "version": {"$ref": "#/components/schemas/Version"},
                            },
                        },
                        "version": {"$ref": "#/components/schemas/Version"},
                        "arch": {"type": "string"},
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {"release": {"type": "string"}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }


def _body(schema_name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }
