"""What a client asks of `/system/secrets`: the request bodies, typed once (OpenFaaS's
`Secret` field names: `name`, `namespace`, `value`, `rawValue`).

Like `gateway.deployments`, each body is a pydantic model whose fields carry their bounds,
so one definition gives the validation here and the schema `gateway.management.openapi`
serves. A secret's value is bytes: `value` is text (sent as UTF-8), `rawValue` base64
(what `faas-cli secret create --from-file` sends). Nothing here knows about HTTP or Docker.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any

from fwatchdog.values import DNS_LABEL_PATTERN
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gateway.deployments.fields import not_reserved_secret
from gateway.deployments.validation import Matching, bad_request
from gateway.errors import BadRequest

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
    Field(description="Accepted for OpenFaaS clients: every secret lives in the gateway's "
          "one namespace."),
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


class _SecretBody(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, alias_generator=to_camel, validate_by_name=True
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, body: Any) -> Any:
        """JSON null means "not given", as Go's `omitempty` clients would have it."""
        if not isinstance(body, Mapping):
            return body
        return {key: value for key, value in body.items() if value is not None}


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


def parse_secret(body: object) -> tuple[str, bytes]:
    """The name and value of a `Secret` body; `BadRequest` names the field at fault."""
    try:
        secret = Secret.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as error:
        raise _secret_error(error) from None
    data = secret.data
    if data is None:
        raise BadRequest("value: required (or rawValue, in base64)")
    if not data:
        raise BadRequest("value: must not be empty (Docker keeps no empty secret)")
    if len(data) > MAX_SECRET_BYTES:
        raise BadRequest(f"value: longer than {MAX_SECRET_BYTES} bytes (Docker's limit)")
    return secret.name, data


def parse_secret_name(body: object) -> str:
    """The name in a `SecretDescription` body (`DELETE`)."""
    try:
        return SecretDescription.model_validate(body, by_alias=True, by_name=False).name
    except ValidationError as error:
        raise _secret_error(error) from None


def _secret_error(error: ValidationError) -> BadRequest:
    """`bad_request`'s wording, without ever echoing a value back: a too-long value would
    otherwise be quoted in the answer (and in logs)."""
    first = error.errors(include_url=False)[0]
    if first["loc"][:1] in (("value",), ("rawValue",)):
        field = first["loc"][0]
        if first["type"] == "string_too_long":
            return BadRequest(f"{field}: longer than {first['ctx']['max_length']} characters")
        if first["type"] == "string_type":
            return BadRequest(f"{field}: expected a string")
        if first["type"] == "value_error":
            return BadRequest(f"{field}: {first['ctx']['error']}")
        return BadRequest(f"{field}: {first['msg']}")  # pydantic's words quote no input
    return bad_request(error)
