"""The `/system/secrets` endpoints (OpenFaaS's paths, bodies and statuses): list, create,
replace and remove the secrets functions may mount. Values go in, never come out: not in
an answer, an error or the log. The provider does the work (`SecretStore`).

Each namespace has its own secrets: the `namespace` query parameter or body field (as
faas-cli sends them: `GET /system/secrets?namespace=dev`, `{"name", "value", "namespace"}`)
picks one, empty or the default's name meaning the default namespace; one the gateway does
not have is a 404, in the words the functions' routes use, and a body and a query naming
two different ones a 400. The store gets None for the default namespace."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import SecretChanged, SecretListed
from gateway.api_types.bodies import MAX_SECRET_BYTES, Secret, SecretDescription
from gateway.deployments.validation import bad_request
from gateway.errors import BadRequest
from gateway.management.operations import System, answer, read_json

log = logging.getLogger("gateway.system")


async def list_secrets(request: Request, system: System) -> Response:
    """`GET /system/secrets`: the names of a namespace's secrets, only."""
    namespace = request.query_params.get("namespace")
    await system.catch_up(request)
    system.namespaces.check(namespace)
    names = await system.provider.secret_names(system.namespaces.other(namespace))
    return answer([SecretListed(name=name) for name in names])


async def create_secret(request: Request, system: System) -> Response:
    """`POST /system/secrets`."""
    secret, value = parse_secret(await read_json(request))
    await system.catch_up(request, secret.namespace)
    name, namespace = _in_namespace(request, system, secret)
    await system.provider.create_secret(name, value, namespace)
    log.info("created secret %s%s", name, _in(namespace))
    return answer(SecretChanged(message=f"created secret {name!r}{_in(namespace)}", name=name), 201)


async def update_secret(request: Request, system: System) -> Response:
    """`PUT /system/secrets`: a new value, and the functions that mount it rolled onto it."""
    secret, value = parse_secret(await read_json(request))
    await system.catch_up(request, secret.namespace)
    name, namespace = _in_namespace(request, system, secret)
    rolled = await system.provider.update_secret(name, value, namespace)
    log.info("updated secret %s%s, rolling %s",
             name, _in(namespace), ", ".join(rolled) or "no function")  # fmt: skip
    message = f"updated secret {name!r}{_in(namespace)}" + (
        f"; rolling {', '.join(map(repr, rolled))} onto it" if rolled else ""
    )
    return answer(SecretChanged(message=message, name=name, functions=list(rolled)))


async def remove_secret(request: Request, system: System) -> Response:
    """`DELETE /system/secrets`."""
    # 200, not the 204 of OpenFaaS's API document: faas-cli takes only 200 or 202.
    description = parse_secret_description(await read_json(request))
    await system.catch_up(request, description.namespace)
    name, namespace = _in_namespace(request, system, description)
    await system.provider.remove_secret(name, namespace)
    log.info("removed secret %s%s", name, _in(namespace))
    return answer(SecretChanged(message=f"removed secret {name!r}{_in(namespace)}", name=name))


def _in_namespace(
    request: Request, system: System, secret: SecretDescription | Secret
) -> tuple[str, str | None]:
    """The secret's name and namespace (None: the default), once its `namespace` (field
    and query parameter) exists; both given must name the same one."""
    what = f"secret {secret.name!r}"
    field, parameter = secret.namespace, request.query_params.get("namespace")
    system.namespaces.check(field, what)
    system.namespaces.check(parameter, what)
    namespace = system.namespaces.other(field or parameter)
    if field and parameter and namespace != system.namespaces.other(parameter):
        raise BadRequest(
            f"namespace {parameter!r} (query) does not match the body's {field!r} ({what})"
        )
    return secret.name, namespace


def _in(namespace: str | None) -> str:
    return f" in namespace {namespace!r}" if namespace else ""


def parse_secret(body: object) -> tuple[Secret, bytes]:
    """A `Secret` body and its value; `BadRequest` names the field at fault."""
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
    return secret, data


def parse_secret_description(body: object) -> SecretDescription:
    """A `SecretDescription` body (`DELETE`): the secret's name and namespace."""
    try:
        return SecretDescription.model_validate(body, by_alias=True, by_name=False)
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
