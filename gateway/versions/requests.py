"""The request bodies of a function's versions: its weights, a promotion, a canary
(docs/versions.md), typed once like `gateway.api_types.bodies` (validation and the
OpenAPI schema from one definition)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from gateway.deployments.fields import VersionName, Weight
from gateway.deployments.validation import parse_body, validate_value
from gateway.errors import BadRequest
from gateway.labels import parse_duration

_WEIGHTS: TypeAdapter[dict[str, int]] = TypeAdapter(dict[VersionName, Annotated[Weight, Strict()]])


def parse_weights_request(body: object, versions: Collection[str]) -> dict[str, int]:
    """`PUT /system/functions/{name}/traffic`: a weight per version (`{"v1": 90, "v2":
    10}`), integers 0-100 summing to 100, each a version of the function (`versions`);
    versions left out get 0. `BadRequest` names the problem."""
    weights = validate_value(_WEIGHTS, body, "weights")
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


def parse_canary_request(body: object) -> CanaryRequest:
    """Validate a canary's body; `BadRequest` names the first field at fault."""
    return parse_body(CanaryRequest, body)


def parse_promote_request(body: object) -> PromoteRequest:
    """Validate a promotion's body."""
    return parse_body(PromoteRequest, body)
