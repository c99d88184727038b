"""The types of the request bodies' fields, each with its bounds (patterns, lengths,
ranges), so one definition gives both the validation and the OpenAPI schema; and the
checks of single values the API reads outside a body (a name, a replica count, a size).
"""

from __future__ import annotations

import re
from typing import Annotated

from fwatchdog.values import DNS_LABEL, DNS_LABEL_PATTERN
from pydantic import AfterValidator, BeforeValidator, Field, Strict, TypeAdapter, WithJsonSchema

from gateway.deployments.validation import Matching, validate_value
from gateway.errors import BadRequest
from gateway.labels import MAX_REPLICAS
from gateway.reserved_names import RESERVED_BECAUSE, RESERVED_FUNCTION_NAMES

MAX_IMAGE_LENGTH = 255

# The gateway's own credentials (`<stack>_basic_auth_*` secrets) must never be handed
# to a function. Only secrets the API created can be mounted at all (checked at deploy
# time by the provider); this name check says so earlier, and in plainer words.
_RESERVED_SECRET_MARKERS = ("basic-auth", "basic_auth")


def not_reserved_secret(name: str) -> str:
    """`name`, unless it names (or could pass for) one of the gateway's own secrets."""
    if any(marker in name for marker in _RESERVED_SECRET_MARKERS):
        raise ValueError(f"{name!r} is reserved for the gateway")
    return name


def not_reserved_name(name: str) -> str:
    """`name`, unless one of the stack's own services has it."""
    if name in RESERVED_FUNCTION_NAMES:
        raise ValueError(f"{name!r} is reserved: {RESERVED_BECAUSE}")
    return name


# RFC 1123 label: what Kubernetes and OpenFaaS accept as a function name.
DnsLabel = Annotated[
    str,
    Matching(f"^{DNS_LABEL_PATTERN}$", f"a valid name ({DNS_LABEL})"),
    Field(description="The function's name: a DNS label."),
]
# Existing functions may have Docker service names (`func_catservice`).
_SERVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
FunctionName = Annotated[
    str,
    Matching(
        _SERVICE_NAME[:-1] + r"(@[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?)?$",
        "a valid function name (letters, digits, '_', '.', '-', at most 63 characters, "
        "and an optional @<version>)",
    ),
    Field(
        description="The function's full name, or its short name without the stack "
        "prefix; `<name>@<version>` names one version of it."
    ),
]
SecretName = Annotated[
    str,
    Matching(_SERVICE_NAME, "a valid Docker secret name"),
    AfterValidator(not_reserved_secret),
]
EnvName = Annotated[str, Matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "an environment variable name")]
LabelKey = Annotated[
    str, Matching(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,253}[A-Za-z0-9])?$", "a label key")
]
# Any text but NUL, which no environment variable or command line can hold.
Text = Annotated[str, Matching(r"^[^\x00]*$", "a string without NUL characters")]
# A Docker image reference: [registry[:port]/]path[:tag][@digest].
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]+)?/)"
Image = Annotated[
    str,
    Field(max_length=MAX_IMAGE_LENGTH, examples=["localhost/faas/hello:latest"]),
    Matching(
        rf"^{_DOMAIN}?{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*"
        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$",
        "a valid image reference",
    ),
]
Constraint = Annotated[
    str,
    Matching(
        r"^[A-Za-z0-9_.\-]+(?:\.[A-Za-z0-9_.\-]+)*\s*(==|!=)\s*\S.*$",
        "a placement constraint (e.g. 'node.role == manager')",
    ),
    Field(examples=["node.role == manager"]),
]
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
VERSION_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$"
"""A version's name (as `gateway.labels.parse_version` reads it)."""
VersionName = Annotated[
    str,
    Matching(
        VERSION_PATTERN,
        "a valid version (lower-case letters, digits and '-', 1-20 characters, starting "
        "and ending with a letter or digit)",
    ),
]
Weight = Annotated[int, Field(ge=0, le=100)]

_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(|b|k|ki|kb|m|mi|mb|g|gi|gb)", re.IGNORECASE)
_MEMORY_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3,
}  # fmt: skip
_MIN_MEMORY = 4 * 1024 * 1024  # the engine refuses less than 4 MiB (6 MiB on some kernels)
_MAX_MEMORY = 2**50
_MAX_CPUS = 1024.0


def _memory_bytes(value: object) -> int | None:
    """Bytes from `128Mi`, `64M`, `1Gi`, `512k` or a plain number of bytes."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a size such as '128Mi' or '64M'")
    text = str(value).strip()
    match = _MEMORY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size such as '128Mi' or '64M'")
    size = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
    if size < _MIN_MEMORY:
        raise ValueError(f"{text!r} is below the engine's minimum of 4Mi")
    if size > _MAX_MEMORY:
        raise ValueError(f"{text!r} is too large")
    return size


def _cores(value: object) -> float | None:
    """Cores from `0.5`, `2` or millicores `500m`."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a number of cores such as '0.5' or '500m'")
    text = str(value).strip()
    try:
        cpus = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of cores") from None
    if not 0.001 <= cpus <= _MAX_CPUS:
        raise ValueError(f"{text!r} must be from 0.001 to {_MAX_CPUS:g} cores")
    return cpus


_SIZE_SCHEMA = {
    "type": ["string", "integer", "null"],
    "description": "'128Mi', '64M', '1Gi' or bytes, at least 4Mi.",
}
_CORES_SCHEMA = {
    "type": ["string", "number", "null"],
    "description": f"Cores ('0.5') or millicores ('500m'), from 0.001 to {_MAX_CPUS:g}.",
}

Cores = Annotated[float | None, BeforeValidator(_cores), WithJsonSchema(_CORES_SCHEMA)]
Size = Annotated[int | None, BeforeValidator(_memory_bytes), WithJsonSchema(_SIZE_SCHEMA)]


_FUNCTION_NAME: TypeAdapter[str] = TypeAdapter(FunctionName)
_REPLICAS: TypeAdapter[int] = TypeAdapter(Annotated[Replicas, Strict()])
_MEMORY_SIZE: TypeAdapter[int | None] = TypeAdapter(Size)
_CORES: TypeAdapter[float | None] = TypeAdapter(Cores)


def validate_function_name(name: object, field_name: str = "service") -> str:
    """A name that may refer to an existing function (Docker service names allowed)."""
    if name is None or name == "":
        raise BadRequest(f"{field_name}: required, a function name")
    return validate_value(_FUNCTION_NAME, name, field_name)


def validate_replicas(value: object) -> int:
    """A replica count from JSON: an integer from 0 to `MAX_REPLICAS`."""
    if value is None:
        raise BadRequest("replicas: required, an integer")
    return validate_value(_REPLICAS, value, "replicas")


def parse_memory(field_name: str, value: object) -> int | None:
    """Bytes from `128Mi`, `64M`, `1Gi`, `512k` or a plain number of bytes."""
    return validate_value(_MEMORY_SIZE, value, field_name)


def parse_cores(field_name: str, value: object) -> float | None:
    """Cores from `0.5`, `2` or millicores `500m`."""
    return validate_value(_CORES, value, field_name)
