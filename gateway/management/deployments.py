"""What a client asks the management API to deploy, and the validation of every field.

`parse_deployment` turns a decoded JSON body (OpenFaaS `FunctionDeployment` field names)
into a frozen `FunctionDeployment`, or raises `BadRequest` naming the first field at fault.
Providers receive only validated deployments; nothing here knows about HTTP or Docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import BadRequest

MAX_REPLICAS = 100
# RFC 1123 label: what Kubernetes and OpenFaaS accept as a function name.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Existing functions may have Docker service names (`func_catservice`).
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_KEY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,253}[A-Za-z0-9])?")
# A Docker image reference: [registry[:port]/]path[:tag][@digest].
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]+)?/)"
_IMAGE = re.compile(
    rf"{_DOMAIN}?{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
_CONSTRAINT = re.compile(r"[A-Za-z0-9_.\-]+(?:\.[A-Za-z0-9_.\-]+)*\s*(==|!=)\s*\S.*")
_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(|b|k|ki|kb|m|mi|mb|g|gi|gb)", re.IGNORECASE)
_MEMORY_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3,
}  # fmt: skip
_MIN_MEMORY = 4 * 1024 * 1024  # the engine refuses less than 4 MiB (6 MiB on some kernels)
_MAX_CPUS = 1024.0

# Labels the platform sets or reads itself; a deployment may not set them.
MANAGED_LABEL = "com.faas.managed"
ANNOTATION_PREFIX = "com.faas.annotation."
_RESERVED_LABEL_PREFIXES = ("com.docker.", ANNOTATION_PREFIX)
_RESERVED_LABELS = frozenset({"com.faas.function", MANAGED_LABEL})
# The gateway's own credentials (`<stack>_basic_auth_*` secrets) must never be handed
# to a function.
_RESERVED_SECRET_MARKERS = ("basic-auth", "basic_auth")

FIELDS = frozenset(
    {
        "service", "image", "envProcess", "envVars", "labels", "annotations",
        "constraints", "secrets", "limits", "requests", "readOnlyRootFilesystem",
        "namespace", "network",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ResourceSpec:
    """CPU (in cores) and memory (in bytes); None where not given."""

    cpus: float | None = None
    memory: int | None = None

    def to_json(self) -> dict[str, str]:
        """The OpenFaaS form: strings, memory in bytes."""
        result: dict[str, str] = {}
        if self.cpus is not None:
            result["cpu"] = f"{self.cpus:g}"
        if self.memory is not None:
            result["memory"] = str(self.memory)
        return result


@dataclass(frozen=True)
class FunctionDeployment:
    """A validated request to deploy (or replace) one function."""

    service: str
    image: str
    env_process: str | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    limits: ResourceSpec | None = None
    requests: ResourceSpec | None = None
    read_only_root_filesystem: bool = False


def is_dns_label(name: str) -> bool:
    """Whether `name` is an RFC 1123 label: a-z, 0-9 and '-', 1-63 long, alphanumeric ends."""
    return _DNS_LABEL.fullmatch(name) is not None


def validate_function_name(name: object, field_name: str = "service") -> str:
    """A name that may refer to an existing function (Docker service names allowed)."""
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{field_name}: required, a function name")
    if _SERVICE_NAME.fullmatch(name) is None:
        raise BadRequest(
            f"{field_name}: {name!r} is not a valid function name "
            "(letters, digits, '_', '.', '-', at most 63 characters)"
        )
    return name


def validate_replicas(value: object) -> int:
    """A replica count from JSON: an integer from 0 to `MAX_REPLICAS`."""
    if value is None:
        raise BadRequest("replicas: required, an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"replicas: expected an integer, got {json.dumps(value)[:40]}")
    if not 0 <= value <= MAX_REPLICAS:
        raise BadRequest(f"replicas: must be from 0 to {MAX_REPLICAS}, got {value}")
    return value


def parse_deployment(body: object) -> FunctionDeployment:
    """Validate a decoded JSON body; `BadRequest` names the first field at fault."""
    if not isinstance(body, Mapping):
        raise BadRequest("body: expected a JSON object")
    unknown = sorted(str(key) for key in body if key not in FIELDS)
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field")
    service = body.get("service")
    if not isinstance(service, str) or not service:
        raise BadRequest("service: required, the function's name")
    if not is_dns_label(service):
        raise BadRequest(
            f"service: {service!r} is not a valid name (a DNS label: lower-case letters, "
            "digits and '-', 1-63 characters, starting and ending with a letter or digit)"
        )
    image = body.get("image")
    if not isinstance(image, str) or not image:
        raise BadRequest("image: required, an image reference such as 'localhost/faas/hi:latest'")
    if len(image) > 255 or _IMAGE.fullmatch(image) is None:
        raise BadRequest(f"image: {image!r} is not a valid image reference")
    env_process = body.get("envProcess")
    if env_process is not None and (not isinstance(env_process, str) or "\x00" in env_process):
        raise BadRequest("envProcess: expected a string (the command to run)")
    env_vars = _string_map(body, "envVars", _ENV_NAME, "an environment variable name")
    labels = _string_map(body, "labels", _LABEL_KEY, "a label key")
    for key in labels:
        if key in _RESERVED_LABELS or key.startswith(_RESERVED_LABEL_PREFIXES):
            raise BadRequest(f"labels: {key!r} is reserved for the platform")
    annotations = _string_map(body, "annotations", _LABEL_KEY, "an annotation key")
    constraints = _string_list(body, "constraints")
    for constraint in constraints:
        if _CONSTRAINT.fullmatch(constraint) is None:
            raise BadRequest(
                f"constraints: {constraint!r} is not a placement constraint "
                "(e.g. 'node.role == manager')"
            )
    secrets = _string_list(body, "secrets")
    for secret in secrets:
        if _SERVICE_NAME.fullmatch(secret) is None:
            raise BadRequest(f"secrets: {secret!r} is not a valid Docker secret name")
        if any(marker in secret for marker in _RESERVED_SECRET_MARKERS):
            raise BadRequest(f"secrets: {secret!r} is reserved for the gateway")
    read_only = body.get("readOnlyRootFilesystem", False)
    if not isinstance(read_only, bool):
        raise BadRequest("readOnlyRootFilesystem: expected true or false")
    for ignored in ("namespace", "network"):
        value = body.get(ignored)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{ignored}: expected a string")
    return FunctionDeployment(
        service=service,
        image=image,
        env_process=env_process,
        env_vars=env_vars,
        labels=labels,
        annotations=annotations,
        constraints=tuple(constraints),
        secrets=tuple(secrets),
        limits=_resources(body, "limits"),
        requests=_resources(body, "requests"),
        read_only_root_filesystem=read_only,
    )


def parse_memory(field_name: str, value: object) -> int:
    """Bytes from `128Mi`, `64M`, `1Gi`, `512k` or a plain number of bytes."""
    text = str(value).strip() if isinstance(value, (str, int)) else None
    if isinstance(value, bool) or text is None:
        raise BadRequest(f"{field_name}: expected a size such as '128Mi' or '64M'")
    match = _MEMORY.fullmatch(text)
    if match is None:
        raise BadRequest(f"{field_name}: {text!r} is not a size such as '128Mi' or '64M'")
    size = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
    if size < _MIN_MEMORY:
        raise BadRequest(f"{field_name}: {text!r} is below the engine's minimum of 4Mi")
    if size > 2**50:
        raise BadRequest(f"{field_name}: {text!r} is too large")
    return size


def parse_cpus(field_name: str, value: object) -> float:
    """Cores from `0.5`, `2` or millicores `500m`."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{field_name}: expected a number of cores such as '0.5' or '500m'")
    text = str(value).strip()
    try:
        cpus = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise BadRequest(f"{field_name}: {text!r} is not a number of cores") from None
    if not 0.001 <= cpus <= _MAX_CPUS:
        raise BadRequest(f"{field_name}: {text!r} must be from 0.001 to {_MAX_CPUS:g} cores")
    return cpus


def _resources(body: Mapping[str, Any], name: str) -> ResourceSpec | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name}: expected an object such as {{'memory': '128Mi', 'cpu': '0.5'}}")
    unknown = sorted(str(key) for key in value if key not in ("memory", "cpu"))
    if unknown:
        raise BadRequest(f"{name}.{unknown[0]}: unknown field (memory and cpu are known)")
    memory, cpu = value.get("memory"), value.get("cpu")
    return ResourceSpec(
        cpus=None if cpu in (None, "") else parse_cpus(f"{name}.cpu", cpu),
        memory=None if memory in (None, "") else parse_memory(f"{name}.memory", memory),
    )


def _string_map(
    body: Mapping[str, Any], name: str, key_pattern: re.Pattern[str], what: str
) -> dict[str, str]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name}: expected an object of strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or key_pattern.fullmatch(key) is None:
            raise BadRequest(f"{name}: {key!r} is not {what}")
        if not isinstance(item, str) or "\x00" in item:
            raise BadRequest(f"{name}.{key}: expected a string")
        result[key] = item
    return result


def _string_list(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{name}: expected a list of strings")
    return list(value)
