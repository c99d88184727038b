"""Schemathesis runs the served OpenAPI document against a live gateway: no 5xx, ever.

The gateway uses the in-memory provider, so no Docker is needed; the async operations
run against one with a nats-server. Examples are bounded (a few dozen per operation) to
keep the run short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api_types.bodies import FunctionDeployment
from gateway.config import BasicAuthCredentials
from gateway.management.openapi import openapi_document
from gateway.management.routes import OPERATIONS, PATH_SCHEMAS
from gateway.providers.base import Function
from tests.gateway.async_calls.harness import async_config, start_nats
from tests.gateway.harness import ADMIN, GatewayThread, management_gateway
from tests.gateway.providers.memory_provider import MemoryProvider

AUTH = ADMIN


@pytest.fixture(scope="module")
def live_gateway() -> Iterator[GatewayThread]:
    job = {"com.faas.mode": "job"}
    provider = MemoryProvider([
        Function("func_cat", "faas/cat:1", 1, "127.0.0.1", 8080, "func"),
        Function("func_heavy", "faas/heavy:1", 0, "127.0.0.1", 8080, "func", labels=job),
    ])  # fmt: skip
    provider.jobs = {"func_heavy": 1}  # its record has `jobs`, checked against the schema too
    with management_gateway(provider) as running:
        yield running


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def operations(gateway: GatewayThread) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/system/openapi.json", auth=AUTH)
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


def is_async(operation: Any) -> bool:
    return bool(operation.path.startswith("/system/async/"))


def check(gateway: GatewayThread, found: list[Any]) -> None:
    """Every operation of `found`, called with the examples schemathesis makes."""
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def conforms(case: Any) -> None:
            if isinstance(case.query, dict) and case.query.get("follow") in (True, "true"):
                case.query["follow"] = "false"  # a followed log never ends: nothing to validate
            case.call_and_validate(base_url=gateway.url, auth=AUTH, checks=CHECKS)

        conforms()


def test_every_operation_conforms_and_never_fails_with_5xx(live_gateway: GatewayThread) -> None:
    found = [operation for operation in operations(live_gateway) if not is_async(operation)]
    assert {operation.label for operation in found} >= {
        "GET /system/functions", "POST /system/functions", "PUT /system/functions",
        "DELETE /system/functions", "GET /system/function/{name}",
        "POST /system/scale-function/{name}", "GET /system/info", "POST /system/alert",
        "GET /system/logs", "GET /system/secrets", "POST /system/secrets",
        "PUT /system/secrets", "DELETE /system/secrets",
    }  # fmt: skip
    check(live_gateway, found)


def test_every_async_operation_conforms_and_never_fails_with_5xx(tmp_path: Path) -> None:
    provider = MemoryProvider([Function("func_cat", "faas/cat:1", 1, "127.0.0.1", 8080, "func")])
    with (
        start_nats(tmp_path / "jetstream") as nats,
        GatewayThread(
            provider, basic_auth=BasicAuthCredentials(*AUTH), async_calls=async_config(nats.port)
        ) as gateway,
    ):
        found = [operation for operation in operations(gateway) if is_async(operation)]
        assert {operation.label for operation in found} == {
            "GET /system/async/dlq", "DELETE /system/async/dlq",
            "POST /system/async/dlq/redrive", "GET /system/async/dlq/{call_id}",
            "DELETE /system/async/dlq/{call_id}", "POST /system/async/dlq/{call_id}/redrive",
            "GET /system/async/{call_id}",
        }  # fmt: skip
        check(gateway, found)


def test_body_schemas_come_from_the_validating_types() -> None:
    schemas = openapi_document("test", OPERATIONS, PATH_SCHEMAS)["components"]["schemas"]
    deployment = schemas["FunctionDeployment"]
    fields = FunctionDeployment.model_fields.values()
    assert set(deployment["properties"]) == {field.alias for field in fields}
    assert deployment["required"] == ["service", "image"]
    assert deployment["additionalProperties"] is False
    assert deployment["properties"]["image"]["maxLength"] == 255
    assert schemas["ScaleRequest"]["properties"]["replicas"]["maximum"] == 100


def test_the_openfaas_compatible_parts_are_documented() -> None:
    paths = openapi_document("test", OPERATIONS, PATH_SCHEMAS)["paths"]
    assert paths["/system/namespaces"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"type": "array", "items": {"type": "string"}}
    logs = {p["name"] for p in paths["/system/logs"]["get"]["parameters"]}
    assert logs == {"name", "tail", "since", "follow", "instance", "namespace"}
    for path, method in [("/system/functions", "get"), ("/system/functions", "delete"),
                         ("/system/function/{name}", "get")]:  # fmt: skip
        names = {p["name"] for p in paths[path][method]["parameters"]}
        assert "namespace" in names
        assert "404" in paths[path][method]["responses"]


RECORD_FIELDS = ("name", "image", "namespace", "envProcess", "envVars", "labels", "annotations",
                 "constraints", "secrets", "limits", "requests", "readOnlyRootFilesystem",
                 "replicas", "availableReplicas", "invocationCount", "createdAt")  # fmt: skip


def test_the_function_record_is_described_field_by_field() -> None:
    schemas = openapi_document("test", OPERATIONS, PATH_SCHEMAS)["components"]["schemas"]
    status = schemas["FunctionStatus"]
    # Every field of OpenFaaS's record, in the list and described alike.
    assert set(RECORD_FIELDS) <= set(status["required"])
    for name, field in status["properties"].items():
        assert field.get("description"), name
    for name, field in schemas["FunctionResources"]["properties"].items():
        assert "as written" in field["description"], name
    # Ours, a job function's only: absent from OpenFaaS's record, described.
    assert "jobs" not in status["required"]
    jobs = schemas["FunctionJobs"]
    assert set(jobs["required"]) == set(jobs["properties"]) == {"running", "queued"}
    assert all(field.get("description") for field in jobs["properties"].values())
