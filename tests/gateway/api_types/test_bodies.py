"""Validation of the request bodies (FunctionDeployment): every error names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fwatchdog.values import is_dns_label

from gateway.api_types.bodies import FunctionDeployment, ResourceSpec
from gateway.deployments import parse_body, validate_function_name
from gateway.deployments.fields import parse_memory, validate_replicas
from gateway.errors import BadRequest
from gateway.reserved_names import RESERVED_FUNCTION_NAMES

VALID = {"service": "hello", "image": "faas/hello:latest"}


def deployment(**fields: Any) -> FunctionDeployment:
    return parse_body(FunctionDeployment, {**VALID, **fields})


def rejected(body: object) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_body(FunctionDeployment, body)
    return caught.value.message


def test_minimal_deployment() -> None:
    assert deployment() == FunctionDeployment(service="hello", image="faas/hello:latest")


def test_full_deployment() -> None:
    parsed = deployment(
        envProcess="python3 handler.py",
        envVars={"GREETING": "hi", "EMPTY": ""},
        labels={"com.faas.port": "8080", "team": "a"},
        annotations={"topic": "x"},
        constraints=["node.role == manager"],
        secrets=["api-key"],
        limits={"memory": "128Mi", "cpu": "0.5"},
        requests={"memory": "64M", "cpu": "250m"},
        readOnlyRootFilesystem=True,
        namespace="ignored",
    )
    assert parsed.env_process == "python3 handler.py"
    assert parsed.env_vars == {"GREETING": "hi", "EMPTY": ""}
    assert parsed.limits is not None
    assert parsed.requests is not None
    assert (parsed.limits.cpus, parsed.limits.memory) == (0.5, 128 * 1024 * 1024)
    assert (parsed.requests.cpus, parsed.requests.memory) == (0.25, 64_000_000)
    # As the client wrote them, for the function's record (the engine gets the numbers).
    assert parsed.limits.written == {"memory": "128Mi", "cpu": "0.5"}
    assert parsed.requests.written == {"memory": "64M", "cpu": "250m"}
    assert parsed.read_only_root_filesystem
    assert parsed.constraints == ("node.role == manager",)


def test_resources_keep_numbers_as_written_and_nothing_for_absent_fields() -> None:
    parsed = deployment(limits={"memory": 134217728, "cpu": 0.5}, requests={"memory": None})
    assert parsed.limits is not None
    assert parsed.requests is not None
    assert parsed.limits.written == {"memory": "134217728", "cpu": "0.5"}
    assert parsed.requests.written == {}
    assert ResourceSpec(cpus=0.5).written == {"cpu": "0.5"}


@pytest.mark.parametrize(
    ("body", "labels"),
    [
        ({"labels": {"faas_function": "hello", "a": "b"}}, {"a": "b"}),
        ({"labels": {"faas_function": "hello-v2"}, "version": "v2"}, {}),
        ({"labels": {"faas_function": "hello"}, "version": "v2"}, {}),
        ({"labels": {"com.faas.managed": "true"}}, {"com.faas.managed": "true"}),
    ],
)
def test_the_labels_a_described_function_shows_are_taken_back(
    body: dict[str, Any], labels: dict[str, str]
) -> None:
    assert deployment(service="hello", **body).labels == labels


def test_faas_function_must_be_the_functions_name() -> None:
    message = rejected({**VALID, "service": "hello", "labels": {"faas_function": "other"}})
    assert message.startswith("labels: faas_function='other': ")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True), ("hello-world", True), ("x1", True), ("a" * 63, True),
        ("", False), ("-a", False), ("a-", False), ("Hello", False), ("a_b", False),
        ("a.b", False), ("a" * 64, False), ("héllo", False),
    ],
)  # fmt: skip
def test_names_are_dns_labels(name: str, valid: bool) -> None:
    assert is_dns_label(name) is valid
    if not valid:
        assert rejected({**VALID, "service": name}).startswith("service:")


STACK_FILE = Path(__file__).resolve().parents[3] / "stack.yml"
MQTT_STACK_FILE = STACK_FILE.with_name("stack.mqtt.yml")


def test_the_stacks_service_names_are_reserved() -> None:
    services = set(yaml.safe_load(STACK_FILE.read_text())["services"])
    services |= set(yaml.safe_load(MQTT_STACK_FILE.read_text())["services"]) - {"triggers"}
    assert services == RESERVED_FUNCTION_NAMES
    for name in sorted(services):
        message = rejected({**VALID, "service": name})
        assert message == (
            f"service: {name!r} is reserved: the platform's own service of that name "
            "is reached by it on the functions network"
        )
    # Only the exact names: others that merely contain them are functions like any other.
    assert deployment(service="gateway-2").service == "gateway-2"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ("x", "body"),
        ({"image": "faas/x"}, "service"),
        ({"service": 3, "image": "faas/x"}, "service"),
        ({"service": "x"}, "image"),
        ({**VALID, "image": "faas/x y"}, "image"),
        ({**VALID, "image": "faas/UPPER"}, "image"),
        ({**VALID, "envProcess": 1}, "envProcess"),
        ({**VALID, "envVars": ["A=1"]}, "envVars"),
        ({**VALID, "envVars": {"1A": "x"}}, "envVars"),
        ({**VALID, "envVars": {"A": 1}}, "envVars.A"),
        ({**VALID, "labels": {"com.faas.function": "false"}}, "labels"),
        ({**VALID, "labels": {"com.faas.managed": "false"}}, "labels"),
        ({**VALID, "labels": {"com.docker.stack.namespace": "x"}}, "labels"),
        ({**VALID, "annotations": {"a": None}}, "annotations.a"),
        ({**VALID, "constraints": "node.role==manager"}, "constraints"),
        ({**VALID, "constraints": ["anywhere"]}, "constraints"),
        ({**VALID, "secrets": ["faas-basic-auth-password"]}, "secrets"),
        ({**VALID, "secrets": [""]}, "secrets"),
        ({**VALID, "limits": "128Mi"}, "limits"),
        ({**VALID, "limits": {"memory": "lots"}}, "limits.memory"),
        ({**VALID, "limits": {"memory": "1k"}}, "limits.memory"),
        ({**VALID, "limits": {"cpu": "0"}}, "limits.cpu"),
        ({**VALID, "limits": {"cpu": True}}, "limits.cpu"),
        ({**VALID, "limits": {"gpu": "1"}}, "limits.gpu"),
        ({**VALID, "requests": {"cpu": "fast"}}, "requests.cpu"),
        ({**VALID, "readOnlyRootFilesystem": "yes"}, "readOnlyRootFilesystem"),
        ({**VALID, "replicas": 3}, "replicas"),
    ],
)
def test_bad_fields_are_named(body: object, field: str) -> None:
    assert rejected(body).startswith(f"{field}:")


@pytest.mark.parametrize(
    "image",
    ["faas/hello", "faas/hello:latest", "localhost:5000/team/fn:1.2-rc", "a/b__c/d-e.f",
     "faas/x@sha256:" + "a" * 64],
)  # fmt: skip
def test_valid_image_references(image: str) -> None:
    assert deployment(image=image).image == image


@pytest.mark.parametrize(
    ("text", "size"),
    [("128Mi", 128 * 2**20), ("64M", 64_000_000), ("1Gi", 2**30), ("5000000", 5_000_000),
     ("4.5Mi", int(4.5 * 2**20))],
)  # fmt: skip
def test_memory_sizes(text: str, size: int) -> None:
    assert parse_memory("limits.memory", text) == size


def test_function_names_and_replicas() -> None:
    assert validate_function_name("func_catservice") == "func_catservice"
    with pytest.raises(BadRequest, match=r"^name:"):
        validate_function_name("../etc", "name")
    assert validate_replicas(0) == 0
    for bad in (-1, 101, True, "2", 1.5, None):
        with pytest.raises(BadRequest, match=r"^replicas:"):
            validate_replicas(bad)
    with pytest.raises(BadRequest, match=r'^replicas: expected an integer, got "two"$'):
        validate_replicas("two")
    with pytest.raises(BadRequest, match=r"^replicas: required"):
        validate_replicas(None)


LONG_IMAGE = "faas/" + "a" * 250  # 255 characters, the longest reference accepted


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"image": LONG_IMAGE}, None),
        ({"image": LONG_IMAGE + "a"}, "image"),
        ({"labels": {"k" * 255: "v"}}, None),
        ({"labels": {"k" * 256: "v"}}, "labels"),
        ({"annotations": {"k" * 256: "v"}}, "annotations"),
        ({"secrets": ["s" * 63]}, None),
        ({"secrets": ["s" * 64]}, "secrets"),
        ({"limits": {"memory": "4Mi", "cpu": "1024"}}, None),
        ({"limits": {"memory": "1048576Gi"}}, None),  # 2**50 bytes
        ({"limits": {"memory": "1048577Gi"}}, "limits.memory"),
        ({"limits": {"memory": "4194303"}}, "limits.memory"),
        ({"limits": {"cpu": "1m"}}, None),
        ({"limits": {"cpu": "0.9m"}}, "limits.cpu"),
        ({"limits": {"cpu": 1025}}, "limits.cpu"),
        ({"envProcess": "cat\x00"}, "envProcess"),
        ({"envVars": {"A": "x\x00"}}, "envVars.A"),
        ({"labels": {"a": "x\x00"}}, "labels.a"),
        ({"labels": {"com.faas.scale.max": "100", "com.faas.port": "65535"}}, None),
        ({"labels": {"com.faas.scale.max": "101"}}, "labels"),
        ({"labels": {"com.faas.scale.min": "²"}}, "labels"),
        ({"labels": {"com.faas.port": "9" * 5000}}, "labels"),
        ({"envVars": {"A\n": "x"}}, "envVars"),
        ({"service": "hello\n"}, "service"),
        ({"constraints": ["node.role == manager\nx"]}, "constraints"),
    ],
)
def test_every_bound_is_enforced_at_its_edge(fields: dict[str, Any], field: str | None) -> None:
    if field is None:
        deployment(**fields)
    else:
        assert rejected({**VALID, **fields}).startswith(f"{field}:")


def test_the_platforms_own_labels_are_checked_at_deploy_time() -> None:
    # Issue 15, item 6: the API used to accept a label the autoscaler then crashed on.
    message = rejected({**VALID, "labels": {"com.faas.scale.min": "²"}})
    assert message == "labels: com.faas.scale.min='²': expected an integer from 1 to 100"
    assert "max='2': expected at least min (3)" in rejected(
        {**VALID, "labels": {"com.faas.scale.min": "3", "com.faas.scale.max": "2"}}
    )
    assert "com.faas.scale.mni" in rejected({**VALID, "labels": {"com.faas.scale.mni": "1"}})
    assert deployment(labels={"com.faas.scale.min": ""}).labels == {"com.faas.scale.min": ""}


def test_null_fields_are_left_out_except_the_boolean() -> None:
    assert deployment(envProcess=None, envVars=None, limits=None) == deployment()
    assert rejected({**VALID, "readOnlyRootFilesystem": None}).startswith("readOnlyRootFilesystem:")


def test_snake_case_names_are_unknown_fields_in_json() -> None:
    assert rejected({**VALID, "env_vars": {}}) == "env_vars: unknown field"
    assert rejected({**VALID, "limits": {"cpus": "1"}}) == "limits.cpus: unknown field"


def test_function_names_are_bounded() -> None:
    assert validate_function_name("f" * 63) == "f" * 63
    with pytest.raises(BadRequest, match=r"^service:"):
        validate_function_name("f" * 64)
    with pytest.raises(BadRequest, match=r"^functionName: required"):
        validate_function_name("", "functionName")
