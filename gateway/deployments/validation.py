"""The one place pydantic's errors become our messages, and the helpers every request
body is validated with: a `BadRequest` names the first field at fault
(`<field path>: <what is wrong>`). Nothing here knows about HTTP or Docker."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from gateway.errors import BadRequest


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


_Model = TypeVar("_Model", bound=BaseModel)


def parse_body(model: type[_Model], body: object) -> _Model:
    """`body` validated as `model`; `BadRequest` names the first field at fault."""
    try:
        return model.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as error:
        raise bad_request(error) from None


_T = TypeVar("_T")


def validate_value(adapter: TypeAdapter[_T], value: object, field_name: str) -> _T:
    """`value` validated by `adapter`; `BadRequest` names `field_name` and the problem."""
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
