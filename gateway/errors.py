"""The gateway's own exceptions, and the one place that maps them to HTTP status codes.

Every error the request path raises on purpose is a `GatewayError`; its message is the
single line the caller gets back, so it names the function and what happened.
`gateway.http_errors` is the one place that turns one into a response. A leaf module.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: a request the gateway answers itself with an error status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    """The request itself is malformed (e.g. an empty function name)."""


class JobNeedsAsync(BadRequest):
    """A sync call to a job function: each of its calls runs in a container of its own,
    started for it, so it is called by `/async-function/` (docs/jobs.md)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"function {name!r} is a job (com.faas.mode=job): each call runs in a fresh "
            f"container, so it is called asynchronously: POST /async-function/{name}, then "
            "read the result with GET /system/async/<X-Call-Id>"
        )


class PayloadTooLarge(GatewayError):
    """A request body over the endpoint's limit (413), refused while it is read."""


class FunctionNotFound(GatewayError):
    """The request names a function the provider does not know."""

    def __init__(self, name: str, hint: str = "") -> None:
        suffix = f" ({hint})" if hint else ""
        super().__init__(f"function {name!r} not found{suffix}")
        self.name = name


class NamespaceNotFound(GatewayError):
    """The request names a namespace the gateway does not have (`<name>.<namespace>`, or a
    `namespace` field or query parameter); the message lists the ones it has."""

    def __init__(self, namespace: str, known: tuple[str, ...], what: str = "") -> None:
        listed = ", ".join(repr(name) for name in known)
        where = f" ({what})" if what else ""
        super().__init__(f"namespace {namespace!r} not found{where}: this gateway has {listed}")
        self.namespace = namespace


class SecretNotFound(GatewayError):
    """The request names a secret the management API does not own (`/system/secrets`)."""

    def __init__(self, name: str, hint: str = "") -> None:
        suffix = f" ({hint})" if hint else ""
        super().__init__(f"secret {name!r} not found{suffix}")
        self.name = name


class NoRoute(GatewayError):
    """Nothing answers this request: it names no function (no /function/ path, header or
    Alexa intent), or no path of the management API."""


class NoReplicas(GatewayError):
    """The function exists but has no running replica to send the request to."""

    def __init__(self, name: str, reason: str = "") -> None:
        super().__init__(f"function {name!r} has no running replicas" + (reason and f": {reason}"))
        self.name = name


class UpstreamUnavailable(GatewayError):
    """A replica refused or dropped the connection before answering."""


class UpstreamTimeout(GatewayError):
    """A replica did not answer within the upstream timeout."""


class LoopDetected(GatewayError):
    """A call came back to the gateway too many times (`X-Faas-Hops`): a function's
    upstream leads back to the gateway, directly or through other functions."""


class ProviderUnavailable(GatewayError):
    """The provider has no usable view of the functions (e.g. the engine is unreachable)."""


class Unauthorized(GatewayError):
    """A request behind basic auth came without the right credentials (the response
    carries a `WWW-Authenticate` challenge for `realm`, none if it is None)."""

    def __init__(self, message: str, realm: str | None) -> None:
        super().__init__(message)
        self.realm = realm


class Forbidden(GatewayError):
    """The caller is authenticated but the request is not allowed (e.g. an image off the list)."""


class MethodNotAllowed(GatewayError):
    """The path exists but not for this method (e.g. a GET on /async-function/)."""


class Conflict(GatewayError):
    """The request clashes with what exists (e.g. deploying a function that already exists)."""


class NotSupported(GatewayError):
    """The provider cannot do this (e.g. the static provider cannot deploy)."""


class Disabled(GatewayError):
    """A part of the gateway is switched off by its configuration (the management API
    without credentials, the alert webhook with autoscaling off)."""


class BrokerUnavailable(GatewayError):
    """The message broker behind async calls cannot take or answer a request now (503)."""


class BrokerFull(BrokerUnavailable):
    """A stream or bucket of the message broker is at its bound and refuses to store
    more (503; the message says which bound)."""


class TooManyRequests(GatewayError):
    """A bound on what one function may have waiting is reached: try again later (429)."""


class OrchestratorError(GatewayError):
    """The orchestrator refused or failed a management operation for a reason of its own."""


# Most specific first: `status_code` walks this in order.
STATUS_CODES: tuple[tuple[type[GatewayError], int], ...] = (
    (BadRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (FunctionNotFound, 404),
    (NamespaceNotFound, 404),
    (SecretNotFound, 404),
    (NoRoute, 404),
    (MethodNotAllowed, 405),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (TooManyRequests, 429),
    (NotSupported, 501),
    (UpstreamUnavailable, 502),
    (OrchestratorError, 502),
    (NoReplicas, 503),
    (ProviderUnavailable, 503),
    (BrokerUnavailable, 503),
    (Disabled, 503),
    (UpstreamTimeout, 504),
    (LoopDetected, 508),
)


def status_code(error: GatewayError) -> int:
    """The HTTP status the gateway answers `error` with (500 for anything unmapped)."""
    for error_type, code in STATUS_CODES:
        if isinstance(error, error_type):
            return code
    return 500
