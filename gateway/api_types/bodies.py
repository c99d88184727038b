"""What a client sends to `/system`: the request bodies.

Each field carries its bounds (patterns, lengths, ranges: `gateway.deployments.fields`),
so one definition gives both the validation (`gateway.deployments.validation.parse_body`,
which names the first field at fault) and the schema. Providers receive only validated
bodies. A secret's value is bytes: `value` is text (sent as UTF-8), `rawValue` base64
(what `faas-cli secret create --from-file` sends).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fwatchdog.values import DNS_LABEL_PATTERN
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gateway.deployments.fields import (
    Constraint,
    Cores,
    DnsLabel,
    EnvName,
    FunctionName,
    Image,
    LabelKey,
    Replicas,
    Size,
    Text,
    VersionName,
    Weight,
    not_reserved_name,
    not_reserved_secret,
)
from gateway.deployments.fields import SecretName as MountedSecret
from gateway.deployments.service_labels import OPENFAAS_FUNCTION_LABEL, no_reserved_labels
from gateway.deployments.validation import Matching
from gateway.namespaces import (
    MAX_NAMESPACE_ENTRIES,
    MAX_NAMESPACE_KEY_LENGTH,
    MAX_NAMESPACE_LENGTH,
    MAX_NAMESPACE_VALUE_LENGTH,
    NAMESPACE_KEY_PATTERN,
    NAMESPACE_PATTERN,
    NamespaceRecord,
    record_problem,
)
from gateway.reserved_names import RESERVED_FUNCTION_NAMES
from gateway.triggers.annotations import check_annotations, check_labels

_NAMESPACE_FIELD = (
    "The function's namespace: empty or the gateway's one namespace (GATEWAY_NAMESPACE, "
    "'openfaas-fn' by default, listed at GET /system/namespaces); another is a 404."
)


class ResourceSpec(BaseModel):
    """CPU (in cores) and memory (in bytes); None where not given. `written` keeps each
    as the client wrote it (`100m`, `5Mi`), which the function's record shows back."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_by_name=True)

    cpus: Cores = Field(default=None, validation_alias="cpu")
    memory: Size = None
    _written: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def written(self) -> Mapping[str, str]:
        """`cpu` and `memory` as the client wrote them (numbers in their JSON form), for
        those given."""
        return self._written

    @model_validator(mode="wrap")
    @classmethod
    def _keep_written(cls, body: Any, handler: ValidatorFunctionWrapHandler) -> ResourceSpec:
        spec = handler(body)
        if isinstance(body, Mapping) and isinstance(spec, ResourceSpec):
            given = {"cpu": body.get("cpu", body.get("cpus")), "memory": body.get("memory")}
            spec._written = {
                key: value if isinstance(value, str) else json.dumps(value)
                for key, value in given.items()
                if value is not None and value != ""
            }
        if not isinstance(spec, ResourceSpec):
            raise TypeError("expected a ResourceSpec")
        return spec


class FunctionDeployment(BaseModel):
    """A validated request to deploy (or replace) one function (OpenFaaS field names)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
    )

    service: Annotated[
        DnsLabel,
        AfterValidator(not_reserved_name),
        Field(
            description="The function's name: a DNS label, none of the platform's own "
            f"service names ({', '.join(sorted(RESERVED_FUNCTION_NAMES))})."
        ),
    ]
    image: Image
    env_process: Text | None = Field(default=None, description="The watchdog's fprocess.")
    env_vars: Mapping[EnvName, Text] = {}
    labels: Annotated[
        Mapping[LabelKey, Text],
        AfterValidator(no_reserved_labels),
        AfterValidator(check_labels),
        Field(
            description="Service labels. `faas_function` (the function's name) and "
            "`com.faas.managed: 'true'`, which a described function shows, are taken back "
            "as they are; the platform's other labels are refused."
        ),
    ] = {}
    annotations: Annotated[
        Mapping[LabelKey, Text],
        AfterValidator(check_annotations),
        Field(
            description="Annotations. OpenFaaS's `topic` (comma-separated) and `schedule` "
            "(with `topic: cron-function`) are triggers (docs/triggers.md), checked here."
        ),
    ] = {}
    # A JSON array becomes a tuple (not strict about that); its items stay strings.
    constraints: Annotated[tuple[Constraint, ...], Strict(False)] = ()
    secrets: Annotated[tuple[MountedSecret, ...], Strict(False)] = Field(
        default=(),
        description="Names of secrets created through /system/secrets, each mounted at "
        "/var/openfaas/secrets/<name> and /run/secrets/<name>.",
    )
    limits: ResourceSpec | None = None
    requests: ResourceSpec | None = None
    read_only_root_filesystem: bool = False
    namespace: str | None = Field(default=None, description=_NAMESPACE_FIELD)
    network: str | None = Field(
        default=None,
        max_length=253,
        description="Accepted for OpenFaaS clients, without effect: functions always live "
        "on the `functions` network (any other name is named in `warnings`).",
    )
    version: VersionName | None = Field(
        default=None,
        description="Deploy (or update) this version of the function: its own service "
        "`<service>-<version>` beside the running ones (docs/versions.md). The first "
        "version of a function is its own service `<service>`.",
    )
    weight: Weight | None = Field(
        default=None,
        description="With `version`, on a POST: the percentage of calls the new version "
        "gets at once (default 0: reached only as `<name>@<version>`), taken from the "
        "version with the most.",
    )

    @model_validator(mode="after")
    def _version_fits(self) -> FunctionDeployment:
        if self.weight is not None and self.version is None:
            raise ValueError("weight: only with a version")
        if self.version is not None and len(self.service) + 1 + len(self.version) > 63:
            raise ValueError(
                f"version: {self.service}-{self.version} (the version's service name) is "
                "longer than 63 characters"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, body: Any) -> Any:
        """JSON null means "not given" (as in OpenFaaS), except for the one boolean; the
        fields only a described record shows (`urls`) are dropped, so it goes back whole."""
        if not isinstance(body, Mapping):
            return body
        body = {
            k: v
            for k, v in body.items()
            if (v is not None or k == "readOnlyRootFilesystem") and k not in _SHOWN_ONLY
        }
        return _without_own_name(body)


_SHOWN_ONLY = frozenset({"urls", "triggers"})
"""Fields of `FunctionStatus` beyond OpenFaaS's that a deployment takes back and ignores."""


def _without_own_name(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without the `faas_function` label a described function shows, when it is
    the function's own name (any other value is refused: the platform sets it)."""
    labels, service, version = body.get("labels"), body.get("service"), body.get("version")
    if not isinstance(labels, Mapping) or OPENFAAS_FUNCTION_LABEL not in labels:
        return body
    names = {service, f"{service}-{version}" if version else service}
    if labels[OPENFAAS_FUNCTION_LABEL] not in names:
        return body
    return {**body, "labels": {k: v for k, v in labels.items() if k != OPENFAAS_FUNCTION_LABEL}}


class ScaleRequest(BaseModel):
    """`POST /system/scale-function/{name}`: the replicas wanted."""

    model_config = ConfigDict(frozen=True, strict=True, alias_generator=to_camel)

    service_name: str | None = Field(default=None, description="If given, the name in the path.")
    replicas: Replicas
    namespace: str | None = Field(default=None, description=_NAMESPACE_FIELD)


class DeleteFunctionRequest(BaseModel):
    """`DELETE /system/functions`: which function to remove."""

    model_config = ConfigDict(frozen=True, strict=True, alias_generator=to_camel)

    function_name: FunctionName
    namespace: str | None = Field(default=None, description=_NAMESPACE_FIELD)


MAX_SECRET_BYTES = 500 * 1024
"""The largest value: Docker's own limit for a secret (the engine refuses more)."""
MAX_SECRET_NAME_LENGTH = 52
"""Docker names a secret in at most 64 characters; a rotated version's name adds
`_<version>` (`gateway.providers.swarm.secret_store`), which the other 12 leave room for."""

_SECRET_NAME = rf"^[a-z0-9]([-a-z0-9.]{{0,{MAX_SECRET_NAME_LENGTH - 2}}}[a-z0-9])?$"
SecretName = Annotated[
    str,
    Matching(
        _SECRET_NAME,
        "a valid secret name (lower-case letters, digits, '-' and '.', "
        f"1-{MAX_SECRET_NAME_LENGTH} characters, starting and ending with a letter or digit)",
    ),
    AfterValidator(not_reserved_secret),
    Field(
        description="The secret's name; a function that lists it reads it from "
        "/var/openfaas/secrets/<name>.",
        examples=["api-key"],
    ),
]
Namespace = Annotated[
    str,
    Matching(f"^{DNS_LABEL_PATTERN}$", "a valid namespace (a DNS label)"),
    Field(description="Empty or the gateway's one namespace (GET /system/namespaces), "
          "where every secret lives; another is a 404."),
]  # fmt: skip


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def _is_base64(text: str) -> str:
    _base64(text)
    return text


_Base64 = Annotated[
    str,
    AfterValidator(_is_base64),
    Field(
        max_length=(MAX_SECRET_BYTES + 2) // 3 * 4,
        description=f"The value as base64 (binary data), at most {MAX_SECRET_BYTES} bytes "
        "once decoded. It wins over value when both are given.",
    ),
]


class _NullIsAbsent(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, body: Any) -> Any:
        """JSON null means "not given", as Go's `omitempty` clients would have it."""
        if not isinstance(body, Mapping):
            return body
        return {key: value for key, value in body.items() if value is not None}


class _SecretBody(_NullIsAbsent):
    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, alias_generator=to_camel, validate_by_name=True
    )


class SecretDescription(_SecretBody):
    """`DELETE /system/secrets`: which secret to remove. OpenFaaS's Go SDK sends the whole
    secret it deletes, value included: a value is taken and ignored, never read."""

    name: SecretName
    namespace: Namespace | None = None
    value: Any = Field(default=None, exclude=True, description="Ignored when deleting.")
    raw_value: Any = Field(default=None, exclude=True, description="Ignored when deleting.")


class Secret(_SecretBody):
    """`POST` (create) and `PUT` (replace the value) on `/system/secrets`."""

    name: SecretName
    namespace: Namespace | None = None
    value: Annotated[str, Field(max_length=MAX_SECRET_BYTES)] | None = Field(
        default=None,
        description=f"The value as text (stored as UTF-8), 1 to {MAX_SECRET_BYTES} bytes.",
    )
    raw_value: _Base64 | None = None

    @property
    def data(self) -> bytes | None:
        """The value's bytes: `rawValue` decoded, else `value` as UTF-8; None if neither.

        `rawValue` wins when both are given, as in OpenFaaS: `faas-cli secret create
        --from-file` sends the file in both."""
        if self.raw_value is not None:
            return _base64(self.raw_value)
        return None if self.value is None else self.value.encode()


_NamespaceKey = Annotated[
    str,
    Matching(f"^{NAMESPACE_KEY_PATTERN.pattern}$", "a valid key (letters, digits, '.', '_', "
             f"'/' and '-', at most {MAX_NAMESPACE_KEY_LENGTH} characters)"),
]  # fmt: skip
_NamespaceValue = Annotated[
    str,
    Field(max_length=MAX_NAMESPACE_VALUE_LENGTH),
    Matching(r"^[^\x00]*$", "a string without NUL characters"),
]


class FunctionNamespace(_NullIsAbsent):
    """A namespace (faas-provider's `FunctionNamespace`): `POST /system/namespace/`,
    `PUT` and `DELETE /system/namespace/{name}` (whose name must be the path's). Other
    fields are ignored."""

    model_config = ConfigDict(frozen=True, strict=True)

    name: Annotated[
        str,
        Matching(
            f"^{NAMESPACE_PATTERN.pattern}$",
            f"a valid namespace (a DNS label of at most {MAX_NAMESPACE_LENGTH} characters)",
        ),
    ] = Field(examples=["dev"])
    labels: Mapping[_NamespaceKey, _NamespaceValue] = Field(
        default={},
        description="Its labels: `com.faas.limit.functions`, `com.faas.limit.replicas` and "
        "`com.faas.limit.memory` bound what it may hold (docs/management.md, Namespaces); "
        f"at most {MAX_NAMESPACE_ENTRIES} labels and annotations together.",
    )
    annotations: Mapping[_NamespaceKey, _NamespaceValue] = {}

    @model_validator(mode="after")
    def _bounded(self) -> FunctionNamespace:
        problem = record_problem(self.record)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def record(self) -> NamespaceRecord:
        """As the providers keep it."""
        return NamespaceRecord(self.name, dict(self.labels), dict(self.annotations))


AlertStatus = Literal["firing", "resolved"]


class Alert(BaseModel):
    status: AlertStatus | None = None
    labels: dict[str, str] | None = None


class AlertmanagerWebhook(BaseModel):
    """The part of Alertmanager's webhook JSON the gateway reads."""

    status: AlertStatus | None = None
    alerts: list[Alert]
