"""A job function's jobs in its record (`FunctionStatus.jobs`, docs/jobs.md "Seeing them").

Running: the provider's job services, from its view (on Swarm kept by the same syncs and
service events as the functions, so no engine call of its own). Queued: the calls the
calls stream holds for the function (`CallQueue.pending`, the count behind
`gateway_async_queue_pending`: one stream-info request whatever the number of functions,
made only when a job function is listed), less those running, since a call stays in the
stream until its job ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.api_types.answers import FunctionJobs
from gateway.async_calls.messages import subject_token
from gateway.errors import GatewayError
from gateway.providers.base import Function

if TYPE_CHECKING:
    from gateway.async_calls.broker import Broker

log = logging.getLogger("gateway.system")

QUEUE_READ_SECONDS = 2.0
"""How long a listing waits for the queue's counts before showing `queued: null`."""


async def pending_calls(broker: Broker | None) -> Mapping[str, int] | None:
    """The calls the calls stream holds, by subject token; None when it cannot be read
    (async calls off, the broker not connected, or no answer within `QUEUE_READ_SECONDS`)."""
    if broker is None or not broker.ready:
        return None
    try:
        async with asyncio.timeout(QUEUE_READ_SECONDS):
            return await broker.queue.pending()
    except (GatewayError, TimeoutError) as error:
        # Debug: the console polls every few seconds, and the broker's state is logged apart.
        log.debug("queued jobs unknown: %s", error or "the broker did not answer in time")
        return None


def function_jobs(
    function: Function, running: Mapping[str, int], pending: Mapping[str, int] | None
) -> FunctionJobs:
    """`function`'s jobs: those of its own service and of its versions' services."""
    names = [function.name]
    if function.traffic is not None:
        names.extend(version.name for version in function.traffic.versions.values())
    jobs = sum(running.get(name, 0) for name in set(names))
    held = None if pending is None else pending.get(subject_token(function.name), 0)
    return FunctionJobs(running=jobs, queued=None if held is None else max(0, held - jobs))
