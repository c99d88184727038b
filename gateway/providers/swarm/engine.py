"""Running a Docker engine call for the management API: off the event loop, with the
engine's failures turned into `GatewayError`s (its own words, never a traceback)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import docker.errors

from gateway.errors import (
    BadRequest,
    Conflict,
    GatewayError,
    OrchestratorError,
    ProviderUnavailable,
)
from gateway.providers.swarm.services import ENGINE_ERRORS

T = TypeVar("T")


async def engine_call(engine: str, operation: Callable[..., T], *args: Any) -> T:
    """`operation(*args)` on a worker thread; `engine` (its address) names it in errors."""
    try:
        return await asyncio.to_thread(operation, *args)
    except GatewayError:
        raise
    except docker.errors.APIError as error:
        raise api_error(error) from None
    except ENGINE_ERRORS as error:
        raise ProviderUnavailable(f"cannot reach the Docker engine at {engine}: {error}") from None


def api_error(error: docker.errors.APIError) -> GatewayError:
    """A clear error for what the engine refused; its own words, never a traceback."""
    explanation = str(error.explanation or error).strip()
    if error.status_code == 409:
        return Conflict(f"the Docker engine refused: {explanation}")
    if error.status_code == 400:
        return BadRequest(f"the Docker engine refused: {explanation}")
    if error.status_code == 404:
        return OrchestratorError(f"the Docker engine could not find something: {explanation}")
    return OrchestratorError(f"the Docker engine failed: {explanation}")
