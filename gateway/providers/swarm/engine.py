"""Running a Docker engine call for the management API: off the event loop, with the
engine's failures turned into `GatewayError`s (its own words, never a traceback; for a
read the client cannot act on, ours, its own in the gateway's log); and the
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

log = logging.getLogger("gateway.swarm")


async def engine_call(engine: str, operation: Callable[..., T], *args: Any, reading: str = "") -> T:
    """`operation(*args)` on a worker thread; `engine` (its address) names it in errors.

    `reading` (e.g. "read the logs of 'fn'") marks a read whose failure the client cannot
    act on once the API has checked the request: the engine's own words then go to the
    gateway's log only, and the answer says in ours what failed (`read_error`)."""
    try:
        return await asyncio.to_thread(operation, *args)
    except GatewayError:
        raise
    except docker.errors.APIError as error:
        raise (read_error(reading, error) if reading else api_error(error)) from None
    except ENGINE_ERRORS as error:
        if reading:
            raise read_error(reading, error, engine) from None
        raise ProviderUnavailable(f"cannot reach the Docker engine at {engine}: {error}") from None


def read_error(reading: str, error: Exception, engine: str = "") -> GatewayError:
    """`reading` failed: 502 (the engine refused) or 503 (out of reach, at `engine`), in
    our words; the engine's (or the connection's) are logged."""
    if isinstance(error, docker.errors.APIError):
        log.warning("%s: the Docker engine answered %s: %s", reading, error.status_code,
                    _explanation(error))  # fmt: skip
        return OrchestratorError(
            f"the Docker engine failed to {reading} (the gateway's log says why)"
        )
    log.warning("%s: cannot reach the Docker engine at %s: %s", reading, engine, error)
    return ProviderUnavailable(
        f"cannot reach the Docker engine to {reading} (the gateway's log says why)"
    )


def _explanation(error: docker.errors.APIError) -> str:
    return str(error.explanation or error).strip()


def api_error(error: docker.errors.APIError) -> GatewayError:
    """A clear error for what the engine refused; its own words, never a traceback."""
    explanation = _explanation(error)
    if error.status_code == 409:
        return Conflict(f"the Docker engine refused: {explanation}")
    if error.status_code == 400:
        return BadRequest(f"the Docker engine refused: {explanation}")
    if error.status_code == 404:
        return OrchestratorError(f"the Docker engine could not find something: {explanation}")
    return OrchestratorError(f"the Docker engine failed: {explanation}")


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
