"""The one mapping from gateway errors to HTTP status codes."""

from __future__ import annotations

import pytest

from gateway import errors


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.BadRequest("x"), 400),
        (errors.FunctionNotFound("cat"), 404),
        (errors.NoRoute("x"), 404),
        (errors.UpstreamUnavailable("x"), 502),
        (errors.NoReplicas("cat"), 503),
        (errors.ProviderUnavailable("x"), 503),
        (errors.UpstreamTimeout("x"), 504),
        (errors.LoopDetected("x"), 508),
        (errors.GatewayError("x"), 500),
    ],
)
def test_status_codes(error: errors.GatewayError, code: int) -> None:
    assert errors.status_code(error) == code


def test_messages_name_the_function() -> None:
    assert errors.FunctionNotFound("cat").message == "function 'cat' not found"
    assert errors.NoReplicas("cat").message == "function 'cat' has no running replicas"
