"""Running a Docker engine call for the management API: off the event loop, with the
engine's failures turned into `GatewayError`s (its own words, never a traceback); and the
small helpers the discovery threads share (the engine's address, closing quietly)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors
from docker.types.daemon import CancellableStream

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


log = logging.getLogger("gateway.swarm")


def engine_address(client: docker.DockerClient | None) -> str:
    """Where `client` talks to, for messages: its base URL, else `DOCKER_HOST`, else the
    local socket."""
    base_url = str(getattr(getattr(client, "api", None), "base_url", ""))
    # http+docker:// is the SDK's stand-in for a local socket: DOCKER_HOST says more.
    if base_url and not base_url.startswith("http+docker://"):
        return base_url
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def close_quietly(closable: CancellableStream[Any] | docker.DockerClient) -> None:
    """Close an events stream or a client that may already be broken."""
    try:
        closable.close()
    except Exception as exc:  # already broken: nothing more to release
        log.debug("close failed: %s", exc)
