"""The field types the management API's bodies are made of, and their validation.

Each type carries its bounds (patterns, lengths, ranges) as pydantic metadata, so the
bodies built from them (`gateway.api_types.bodies`) validate and show their schema from
one definition. `parse_body` turns a decoded JSON body into a frozen model, or raises
`BadRequest` naming the first field at fault; `bad_request` is the one place pydantic's
errors become our messages. The versions' bodies and the canary's state are here too
(docs/versions.md). Nothing here knows about HTTP or Docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from gateway.errors import BadRequest
from gateway.labels import (
    ANNOTATION_PREFIX,
    CANARY_LABEL,
    FUNCTION_LABEL,
    MANAGED_LABEL,
    MAX_REPLICAS,
    PREVIOUS_TRAFFIC_LABEL,
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
    label_problems,
    parse_duration,
)

__all__ = ["ANNOTATION_PREFIX", "MANAGED_LABEL", "MAX_REPLICAS"]  # re-exported

MAX_IMAGE_LENGTH = 255

# Labels the platform sets itself; a deployment may not set them.
_RESERVED_LABEL_PREFIXES = ("com.docker.", ANNOTATION_PREFIX)
_RESERVED_LABELS = frozenset(
    {
        FUNCTION_LABEL,
        MANAGED_LABEL,
        VERSION_OF_LABEL,
        VERSION_LABEL,
        TRAFFIC_LABEL,
        PREVIOUS_TRAFFIC_LABEL,
        CANARY_LABEL,
    }
)

# The gateway's own credentials (`<stack>_basic_auth_*` secrets) must never be handed
# to a function. Only secrets the API created can be mounted at all (checked at deploy
# time by the provider); this name check says so earlier, and in plainer words.
_RESERVED_SECRET_MARKERS = ("basic-auth", "basic_auth")


# The stack's own services (stack.yml; tests/gateway/api_types/test_bodies.py keeps
# the two in step). Each is reached by its short name on the functions network, where a
# function of the same name would answer that name too: calls a function makes to
# `gateway` could reach an impostor, and the sample functions' short names would change
# meaning. The gateway sits on the monitoring network as well, hence `prometheus`, and
# on the queue network with `nats` (the queue worker resolves `gateway` and `nats` too).
RESERVED_FUNCTION_NAMES = frozenset(
    {
        "gateway",
        "prometheus",
        "nats",
        "queue-worker",
        "base64",
        "catservice",
        "csvtojson",
        "hostnameintent",
        "httpecho",
        "wordcount",
    }
)


def not_reserved_name(name: str) -> str:
    """`name`, unless one of the stack's own services has it."""
    if name in RESERVED_FUNCTION_NAMES:
        raise ValueError(
            f"{name!r} is reserved: the platform's own service of that name is reached "
            "by it on the functions network"
        )
    return name


def not_reserved_secret(name: str) -> str:
    """`name`, unless it names (or could pass for) one of the gateway's own secrets."""
    if any(marker in name for marker in _RESERVED_SECRET_MARKERS):
        raise ValueError(f"{name!r} is reserved for the gateway")
    return name


@dataclass(frozen=True)
class Matching:
    """Pydantic metadata: a string must match `pattern`, which the JSON Schema shows too.

    Python's `re` checks it (the behaviour the patterns were written for), and a miss says
    what the string should have been: `<field>: 'x' is not <what>`.
    """

    pattern: str
    what: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if compiled.fullmatch(value) is None:
                raise ValueError(f"{value!r} is not {self.what}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern}


# RFC 1123 label: what Kubernetes and OpenFaaS accept as a function name.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[
    str,
    Matching(
        _DNS_LABEL,
        "a valid name (a DNS label: lower-case letters, digits and '-', 1-63 characters, "
        "starting and ending with a letter or digit)",
    ),
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


def no_reserved_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """`labels`, unless one is the platform's own or a platform label's value is bad."""
    for key in labels:
        if key in _RESERVED_LABELS or key.startswith(_RESERVED_LABEL_PREFIXES):
            raise ValueError(f"{key!r} is reserved for the platform")
    # The labels the platform reads (`com.faas.port`, `com.faas.scale.*`): refused here
    # rather than silently replaced by their defaults at run time.
    problems = label_problems(labels)
    if problems:
        first = problems[0]
        raise ValueError(f"{first.label}={_shown(first.value)}: expected {first.expected}")
    return labels


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


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


_Model = TypeVar("_Model", bound=BaseModel)


def parse_body(model: type[_Model], body: object) -> _Model:
    """A decoded JSON body as `model` (by its JSON names); `BadRequest` names the first
    field at fault."""
    try:
        return model.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as error:
        raise bad_request(error) from None


_FUNCTION_NAME: TypeAdapter[str] = TypeAdapter(FunctionName)
_REPLICAS: TypeAdapter[int] = TypeAdapter(Annotated[Replicas, Strict()])
_MEMORY_SIZE: TypeAdapter[int | None] = TypeAdapter(Size)


def is_dns_label(name: str) -> bool:
    """Whether `name` is an RFC 1123 label: a-z, 0-9 and '-', 1-63 long, alphanumeric ends."""
    return re.fullmatch(_DNS_LABEL, name) is not None


def validate_function_name(name: object, field_name: str = "service") -> str:
    """A name that may refer to an existing function (Docker service names allowed)."""
    if name is None or name == "":
        raise BadRequest(f"{field_name}: required, a function name")
    return _validate(_FUNCTION_NAME, name, field_name)


def validate_replicas(value: object) -> int:
    """A replica count from JSON: an integer from 0 to `MAX_REPLICAS`."""
    if value is None:
        raise BadRequest("replicas: required, an integer")
    return _validate(_REPLICAS, value, "replicas")


def parse_memory(field_name: str, value: object) -> int | None:
    """Bytes from `128Mi`, `64M`, `1Gi`, `512k` or a plain number of bytes."""
    return _validate(_MEMORY_SIZE, value, field_name)


_T = TypeVar("_T")


def _validate(adapter: TypeAdapter[_T], value: object, field_name: str) -> _T:
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise bad_request(error, field_name) from None


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "an integer",
    "float_type": "a number",
    "dict_type": "an object",
    "tuple_type": "a list",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
}


def bad_request(error: ValidationError, field_name: str = "") -> BadRequest:
    """Pydantic's first error in our words: `<field path>: <what is wrong>`.

    The path uses the JSON names (`limits.memory`, `envVars.HOME`); a bad mapping key or
    list item is reported against its mapping or list (`envVars: '1A' is not ...`).
    """
    first = error.errors(include_url=False)[0]
    kind, value, context = first["type"], first.get("input"), first.get("ctx", {})
    # A list item is named by its value in the message, not by its position.
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    if loc[-1:] == ["[key]"]:
        loc = loc[:-2]
    path = ".".join([field_name, *loc] if field_name else loc) or "body"
    if kind == "missing":
        what = "required"
    elif kind == "extra_forbidden":
        what = "unknown field"
    elif kind == "value_error":
        what = str(context["error"])
    elif kind == "string_too_long":
        what = f"longer than {context['max_length']} characters"
    elif kind == "greater_than_equal":
        what = f"must be at least {context['ge']}, got {value}"
    elif kind == "less_than_equal":
        what = f"must be at most {context['le']}, got {value}"
    elif kind in _EXPECTED:
        what = f"expected {_EXPECTED[kind]}, got {json.dumps(value, default=repr)[:40]}"
    else:
        what = first["msg"]
    return BadRequest(f"{path}: {what}")


# Versions and traffic (docs/versions.md).

_WEIGHTS: TypeAdapter[dict[str, int]] = TypeAdapter(dict[VersionName, Annotated[Weight, Strict()]])


def parse_weights_request(body: object, versions: Collection[str]) -> dict[str, int]:
    """`PUT /system/functions/{name}/traffic`: a weight per version (`{"v1": 90, "v2":
    10}`), integers 0-100 summing to 100, each a version of the function (`versions`);
    versions left out get 0. `BadRequest` names the problem."""
    weights = _validate(_WEIGHTS, body, "weights")
    unknown = sorted(set(weights) - set(versions))
    if unknown:
        raise BadRequest(
            f"weights: {unknown[0]!r} is not a version of this function "
            f"(its versions: {', '.join(sorted(versions))})"
        )
    total = sum(weights.values())
    if total != 100:
        raise BadRequest(f"weights: they sum to {total}, not 100")
    return {version: weights.get(version, 0) for version in sorted(versions)}


def _seconds(value: object) -> float:
    """Seconds from a number or a duration (`30s`, `2m`, `500ms`)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a duration such as '30s' or a number of seconds")
    seconds = value if not isinstance(value, str) else parse_duration(value)
    if seconds is None or not 0.1 <= float(seconds) <= 86400:
        raise ValueError(f"{value!r} is not a duration from 0.1s to 24h")
    return float(seconds)


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema({"type": ["string", "number"], "description": "'30s', '2m' or seconds."}),
]


class PromoteRequest(BaseModel):
    """`POST /system/functions/{name}/promote`: the version that gets every call."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: VersionName


class CanaryRequest(BaseModel):
    """`POST /system/functions/{name}/canary`: shift calls to `to` by `step` points every
    `every`, rolling back by itself when its error rate (5xx answers) or its p99 latency
    over a step breaks a bound."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, alias_generator=to_camel, validate_by_name=True
    )

    to: VersionName
    step: Annotated[int, Field(ge=1, le=100)] = 10
    every: Seconds = 30.0
    max_error_rate: Annotated[float, Strict(False), Field(ge=0, le=1)] = Field(
        default=0.01, description="The most 5xx answers per call a step may see (0.01: 1%)."
    )
    max_latency: Annotated[float | None, Strict(False), Field(gt=0, le=3600)] = Field(
        default=None, description="The most seconds a step's p99 latency may reach."
    )


class CanaryStep(BaseModel):
    """One step of a canary: the weight it set, when, and what the step before saw."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True)

    weight: int
    at: float  # Unix time
    result: str  # started, step, promoted, rolled_back, aborted
    calls: int = 0
    errors: int = 0
    p99: float | None = None
    reason: str = ""


class CanaryState(BaseModel):
    """A canary as kept on the function's own service (`com.faas.canary`, JSON), so any
    gateway can continue it, and as `GET /system/function/{name}` shows it."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True)

    request: CanaryRequest
    origin: Mapping[str, int]  # the weights before it: where a rollback goes
    weight: int  # the version's weight now
    since: float  # Unix time that weight was set
    status: str = "running"  # running, promoted, rolled_back, aborted
    steps: tuple[CanaryStep, ...] = ()

    @property
    def running(self) -> bool:
        """Whether it still shifts weight."""
        return self.status == "running"

    def label(self) -> str:
        """The JSON kept in the label."""
        return self.model_dump_json(by_alias=True)


def parse_canary_request(body: object) -> CanaryRequest:
    """Validate a canary's body; `BadRequest` names the first field at fault."""
    return parse_body(CanaryRequest, body)


def parse_promote_request(body: object) -> PromoteRequest:
    """Validate a promotion's body."""
    return parse_body(PromoteRequest, body)


def canary_state(raw: str | None) -> CanaryState | None:
    """The canary kept in a label, or None if none (or unreadable: nothing to continue)."""
    if not raw:
        return None
    try:
        return CanaryState.model_validate_json(raw, by_alias=True, by_name=True)
    except ValidationError:
        return None
