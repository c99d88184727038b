"""The OpenAPI 3.1 document of `/system`, served at `GET /system/openapi.json`.

Written from the route list (`gateway.management.routes`), the same one the router is
built from; the bodies' schemas are generated from their types (`gateway.api_types`), the ones
that validate and fill them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from gateway.api_types.answers import Error
from gateway.management.operations import Operation

_ALWAYS = {
    401: "No or wrong credentials (HTTP basic auth).",
    503: "The management API is disabled: no credentials are configured.",
}
_WITH_BODY = {413: "A body over 1 MiB (its Content-Length, or as it is read)."}
_PATH_PARAMETER = re.compile(r"{(\w+)}")


class _Untitled(GenerateJsonSchema):
    """Leaves out the titles pydantic derives from field names: they say nothing new."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def openapi_document(
    version: str, operations: Sequence[Operation], path_schemas: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole document; `version` is the gateway's release, `path_schemas` the JSON
    Schema of each path parameter by name."""
    types = [t for op in operations for t in (op.response, op.request) if t is not None]
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

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path = "/system" + op.path
        operation: dict[str, Any] = {"summary": op.summary, "operationId": op.operation_id}
        if op.description:
            operation["description"] = op.description
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": path_schemas[name]}
            for name in _PATH_PARAMETER.findall(op.path)
        ] + [{"in": "query", **parameter} for parameter in op.query]
        if parameters:
            operation["parameters"] = parameters
        if op.request is not None:
            operation["requestBody"] = {"required": True, "content": content(op.request)}
        answer = {"description": op.answered, "content": content(op.response, op.media_type)}
        errors = {**_ALWAYS, **(_WITH_BODY if op.request is not None else {}), **op.errors}
        operation["responses"] = {
            str(op.status): answer,
            **{str(status): {"description": text, "content": content(Error)}
               for status, text in sorted(errors.items())},
        }  # fmt: skip
        paths.setdefault(path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "faas gateway management API",
            "version": version,
            "description": "Deploy, update, scale, list and remove functions; follow and "
            "redrive async calls. Every path needs HTTP basic auth. Field names follow "
            "OpenFaaS's FunctionDeployment.",
        },
        "security": [{"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": definitions.get("$defs", {}),
        },
    }
