"""What a client asks the management API to do with a function: deploy or update it
(`FunctionDeployment`, OpenFaaS's field names), scale it, remove it.

`parse_deployment` turns a decoded JSON body into a frozen `FunctionDeployment`, or raises
`BadRequest` naming the first field at fault. Providers receive only validated
deployments; nothing here knows about HTTP or Docker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator
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
    SecretName,
    Size,
    Text,
    VersionName,
    Weight,
)
from gateway.deployments.service_labels import no_reserved_labels
from gateway.deployments.validation import parse_body
from gateway.errors import BadRequest

# The stack's own services (stack.yml; tests/gateway/deployments/test_request.py keeps
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


def _not_reserved_name(name: str) -> str:
    if name in RESERVED_FUNCTION_NAMES:
        raise ValueError(
            f"{name!r} is reserved: the platform's own service of that name is reached "
            "by it on the functions network"
        )
    return name


_NAMESPACE_FIELD = (
    "The function's namespace: empty or the gateway's one namespace (GATEWAY_NAMESPACE, "
    "'openfaas-fn' by default, listed at GET /system/namespaces); another is a 404."
)


class ResourceSpec(BaseModel):
    """CPU (in cores) and memory (in bytes); None where not given."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_by_name=True)

    cpus: Cores = Field(default=None, validation_alias="cpu")
    memory: Size = None


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
        AfterValidator(_not_reserved_name),
        Field(
            description="The function's name: a DNS label, none of the platform's own "
            f"service names ({', '.join(sorted(RESERVED_FUNCTION_NAMES))})."
        ),
    ]
    image: Image
    env_process: Text | None = Field(default=None, description="The watchdog's fprocess.")
    env_vars: Mapping[EnvName, Text] = {}
    labels: Annotated[Mapping[LabelKey, Text], AfterValidator(no_reserved_labels)] = {}
    annotations: Mapping[LabelKey, Text] = {}
    # A JSON array becomes a tuple (not strict about that); its items stay strings.
    constraints: Annotated[tuple[Constraint, ...], Strict(False)] = ()
    secrets: Annotated[tuple[SecretName, ...], Strict(False)] = Field(
        default=(),
        description="Names of secrets created through /system/secrets, each mounted at "
        "/var/openfaas/secrets/<name> and /run/secrets/<name>.",
    )
    limits: ResourceSpec | None = None
    requests: ResourceSpec | None = None
    read_only_root_filesystem: bool = False
    namespace: str | None = Field(default=None, description=_NAMESPACE_FIELD)
    network: str | None = Field(default=None, description="Accepted, ignored.")
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
        """JSON null means "not given" (as in OpenFaaS), except for the one boolean."""
        if not isinstance(body, Mapping):
            return body
        return {k: v for k, v in body.items() if v is not None or k == "readOnlyRootFilesystem"}


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


def parse_deployment(body: object) -> FunctionDeployment:
    """Validate a decoded JSON body; `BadRequest` names the first field at fault."""
    return parse_body(FunctionDeployment, body)


def parse_scale_request(
    name: str, body: object, function_name: Callable[[str], str] | None = None
) -> ScaleRequest:
    """The replicas asked for the function `name` (from the path). `function_name` reads
    `serviceName` as the path's name was read (its namespace suffix taken off)."""
    request = parse_body(ScaleRequest, body)
    given = request.service_name
    if given is not None and function_name is not None:
        given = function_name(given)
    if given is not None and given != name:
        raise BadRequest("serviceName: must match the name in the path when given")
    return request


def parse_delete_request(body: object) -> DeleteFunctionRequest:
    """Which function to remove (`functionName` may carry a `.<namespace>` suffix)."""
    return parse_body(DeleteFunctionRequest, body)
