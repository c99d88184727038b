"""`/system/async/...`: a call's status by id, and the dead-letter queue (behind basic auth).

- `GET /system/async/<call-id>`: queued / running (attempt n) / succeeded / failed, the
  status, duration and (small) body; 404 when unknown or past the status retention.
- `GET /system/async/dlq[?limit=n&after=seq]`: dead-lettered calls, oldest first, from
  their headers only (no bodies are read); `next` is the `after` of the next page.
- `GET /system/async/dlq/<call-id>`: one, with its request body.
- `POST /system/async/dlq/<call-id>/redrive`, `POST /system/async/dlq/redrive`: queue
  one, or all, again (their attempts start over). Redriving all reads one body at a
  time and stops after `REDRIVE_SECONDS` (`more`: call it again for the rest).
- `DELETE /system/async/dlq/<call-id>`, `DELETE /system/async/dlq`: drop one, or all.

The endpoints are listed, with the rest of `/system`, in `gateway.management.routes`.
"""

from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api_types.answers import DeadLetter, DeadLetters, Deleted, Purged, Redriven
from gateway.async_calls.broker import Broker
from gateway.async_calls.messages import CALL_ID_PATTERN, CallStatus, QueuedCall
from gateway.errors import BadRequest, GatewayError, NoRoute
from gateway.management.operations import System, answer

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
REDRIVE_SECONDS = 20.0
"""Redriving all stops after this long; the answer's `more` says there is more to do."""


def dead_letter_summary(
    call: QueuedCall, with_body: bool = False, body_bytes: int | None = None
) -> DeadLetter:
    """A dead-lettered call as the API shows it (`body_bytes`: listed without its body)."""
    summary = DeadLetter(
        callId=call.call_id,
        function=call.function,
        method=call.method,
        path=call.path,
        error=call.error,
        attempts=call.attempts,
        status=call.last_status,
        queuedAt=call.started_at,
        callbackUrl=call.callback_url,
        bodyBytes=len(call.body) if body_bytes is None else body_bytes,
    )
    if with_body:
        summary.headers = [list(pair) for pair in call.headers]
        summary.bodyBase64 = base64.b64encode(call.body).decode("ascii")
    return summary


async def call_status(request: Request, system: System) -> Response:
    """`GET /system/async/<call-id>`."""
    call_id = _call_id(request)
    record = await system.async_broker().statuses.get(call_id)
    if record is None:
        raise NoRoute(f"no async call {call_id!r} (unknown, or past its retention)")
    answer = asdict(record)
    del answer["fingerprint"]
    return JSONResponse(answer)


async def list_dead_letters(request: Request, system: System) -> Response:
    """`GET /system/async/dlq`: a page, oldest first, from the calls' headers."""
    broker = system.async_broker()
    page = await broker.dead_letters.page(_limit(request), _after(request))
    total = await broker.dead_letters.count()
    calls = [dead_letter_summary(dead.call, body_bytes=dead.body_bytes) for dead in page.calls]
    return answer(DeadLetters(total=total, calls=calls, next=page.next))


async def show_dead_letter(request: Request, system: System) -> Response:
    """`GET /system/async/dlq/<call-id>`: one, with its request."""
    call = await _dead(request, system.async_broker())
    return answer(dead_letter_summary(call, with_body=True))


async def redrive_one(request: Request, system: System) -> Response:
    """`POST /system/async/dlq/<call-id>/redrive`."""
    broker = system.async_broker()
    call = await _dead(request, broker)
    await redrive(broker, call)
    return answer(Redriven(redriven=[call.call_id]), 202)


async def redrive_all(request: Request, system: System) -> Response:
    """`POST /system/async/dlq/redrive`: for `REDRIVE_SECONDS` at most."""
    broker = system.async_broker()
    # Listed from headers, then one body at a time: never the whole queue in memory.
    page = await broker.dead_letters.page(_limit(request, MAX_LIST_LIMIT))
    deadline = time.monotonic() + REDRIVE_SECONDS
    redriven: list[str] = []
    more = page.next is not None
    for dead in page.calls:
        if redriven and time.monotonic() > deadline:
            more = True
            break
        sequence = dead.call.sequence
        call = await broker.dead_letters.at(sequence) if sequence is not None else None
        if call is not None:  # else: deleted or redriven meanwhile
            await redrive(broker, call)
            redriven.append(call.call_id)
    return answer(Redriven(redriven=redriven, more=more), 202)


async def delete_dead_letter(request: Request, system: System) -> Response:
    """`DELETE /system/async/dlq/<call-id>`."""
    broker = system.async_broker()
    call = await _dead(request, broker)
    await broker.dead_letters.remove(call)
    return answer(Deleted(deleted=[call.call_id]))


async def purge_dead_letters(request: Request, system: System) -> Response:
    """`DELETE /system/async/dlq`."""
    count = await system.async_broker().dead_letters.purge()
    return answer(Purged(purged=count))


async def redrive(broker: Broker, call: QueuedCall) -> None:
    """Queue a dead-lettered call again, its attempts starting over, then drop this copy
    (by its sequence: should the call fail again at once, its new copy stays)."""
    requeued = call.requeued()
    previous = await broker.statuses.get(call.call_id)
    await broker.statuses.put(
        CallStatus(
            callId=call.call_id,
            function=call.function,
            state="queued",
            queuedAt=call.started_at,
            fingerprint=previous.fingerprint if previous is not None else None,
        )
    )
    try:
        await broker.queue.enqueue(requeued, dedupe_id=f"redrive:{call.call_id}:{time.time_ns()}")
    except GatewayError:  # e.g. the queue at its bound: not queued, its record as it was
        if previous is not None:
            with contextlib.suppress(GatewayError):
                await broker.statuses.put(previous)
        raise
    await broker.dead_letters.remove(call)


def _call_id(request: Request) -> str:
    call_id: str = request.path_params["call_id"]
    if CALL_ID_PATTERN.fullmatch(call_id) is None:
        raise BadRequest(f"invalid call id {call_id[:80]!r}")
    return call_id


async def _dead(request: Request, broker: Broker) -> QueuedCall:
    call_id = _call_id(request)
    call = await broker.dead_letters.by_id(call_id)
    if call is None:
        raise NoRoute(f"no dead-lettered call {call_id!r}")
    return call


def _after(request: Request) -> int:
    raw = request.query_params.get("after", "")
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 19:
        raise BadRequest("after: expected a stream sequence (a non-negative integer)")
    return int(raw)


def _limit(request: Request, default: int = DEFAULT_LIST_LIMIT) -> int:
    raw = request.query_params.get("limit", "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise BadRequest(f"limit: expected an integer from 1 to {MAX_LIST_LIMIT}")
    return int(raw)
