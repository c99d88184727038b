"""`POST|PUT /async-function/<name>[/<path>]`: accept a call now, run it later.

The answer is `202 Accepted` with the call's `X-Call-Id` only once JetStream has stored
the call (a publish with ack): a 202 is a promise the queue keeps. Refused at once:
an unknown function (404), a body over `GATEWAY_ASYNC_MAX_BODY` (413), a callback URL
off the allow-list (400), the broker unreachable (503, with the reason). The body limit
is the smaller of `GATEWAY_ASYNC_MAX_BODY` and what the server's `max_payload` leaves
once the call's headers (and room for a dead-letter note) are counted.

Refused too, before the body is read, what the sync path refuses: an `X-Faas-Hops` that
is no number (400) or says the call went round the gateway too often (508). And the
queue's bounds (`call_queue`): a function's queue full 429, the whole queue or the status
bucket full 503, each saying which bound.

`X-Idempotency-Key`: the call id is derived from the function and the key, and the
message id is the same, so a client that repeats its POST gets the same call id and the
call is not queued again: within the idempotency window JetStream drops the repeat
(publishing again also queues a call whose first publish never landed); later, the
call's status record says it was queued already (as long as the record is kept). The
key is bound to the call it was first used for (`call_fingerprint`, kept in the status
record): the same key with another method, path, query, body or callback URL is 409.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote

from starlette.types import Receive, Scope, Send

from gateway.asgi import ClientDisconnected, Headers, header, read_bounded_body, send_response
from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import CallMessage
from gateway.async_calls.callbacks import check_callback
from gateway.async_calls.connection import gather_bounded
from gateway.async_calls.messages import CallStatus, QueuedCall
from gateway.calls import Calls
from gateway.config import AsyncConfig
from gateway.errors import BadRequest, Conflict, Disabled, GatewayError, MethodNotAllowed
from gateway.http_errors import ErrorFormat, send_error
from gateway.proxy.handler import HeaderFilter
from gateway.proxy.headers import HOP_BY_HOP, forwarded_request_headers
from gateway.routing.rules import upstream_path

ASYNC_PREFIX = b"/async-function/"
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c3c4e-52a5-4b8e-9a51-2f4f6a0f7d19")
_NOT_STORED = HOP_BY_HOP | {b"x-call-id", b"x-start-time", b"content-length", b"expect"}
_TEXT = ErrorFormat.TEXT


def is_async_call(path: str) -> bool:
    """Whether a request path is an async call's."""
    return path.startswith("/async-function/") or path == "/async-function"


def call_id_for(function: str, idempotency_key: str | None) -> str:
    """A new call id, or the one an idempotency key always gives for this function."""
    if idempotency_key:
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{function}\n{idempotency_key}"))
    return str(uuid.uuid4())


def call_fingerprint(
    method: str, function: str, path: str, body: bytes, callback_url: str | None
) -> str:
    """The digest (sha256, hex) of what makes a call this call: method, function, path
    with its query, body and callback URL; an idempotency key is bound to it."""
    digest = hashlib.sha256()
    for part in (method, function, path, callback_url or ""):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(encoded) + encoded)
    digest.update(hashlib.sha256(body).digest())
    return digest.hexdigest()


class AsyncEnqueue:
    """ASGI app for `/async-function/...`."""

    def __init__(
        self,
        config: AsyncConfig,
        broker: Broker | None,
        calls: Calls,
        header_filter: HeaderFilter | None = None,
    ) -> None:
        self._config = config
        self._broker = broker
        self._calls = calls
        self._header_filter = header_filter
        self._callbacks = config.callback_prefixes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            call_id = await self._enqueue(scope, receive)
        except GatewayError as error:
            await send_error(send, error, _TEXT)
            return
        except ClientDisconnected:
            return
        await send_response(send, 202, [(b"x-call-id", call_id.encode("latin-1"))], b"")

    async def _enqueue(self, scope: Scope, receive: Receive) -> str:
        if self._broker is None:
            raise Disabled("async calls are switched off: GATEWAY_NATS_URL is not set")
        method: str = scope["method"]
        if method not in ("POST", "PUT"):
            raise MethodNotAllowed(f"{method} {scope['path']}: async calls are POST or PUT")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        name, path = split_async_path(raw_path, scope.get("query_string", b""))
        # The version is chosen when the call runs (`gateway.async_calls.consumer`).
        function = self._calls.find(name)
        headers: Headers = scope["headers"]
        if self._header_filter is not None:
            headers = self._header_filter(headers)
        # As the sync path does: a bad or looping X-Faas-Hops (400, 508) now, not at the
        # queue consumer after a 202.
        forwarded_request_headers(
            headers, upstream_host=function.name, client_address=None, scheme="http"
        )
        callback = header(headers, b"x-callback-url")
        callback_url = None
        if callback is not None:
            callback_url = check_callback(callback.decode("latin-1").strip(), self._callbacks)
        key = header(headers, b"x-idempotency-key")
        idempotency_key = key.decode("latin-1").strip() if key else None
        broker = self._broker
        # The server's max_payload bounds the body too (check_size below is exact).
        body_limit = min(self._config.max_body, broker.max_payload or self._config.max_body)
        body = await read_bounded_body(scope["headers"], receive, body_limit)
        call_id = call_id_for(function.name, idempotency_key)
        started_at = time.time()
        stored = [
            (name_.decode("latin-1"), value.decode("latin-1"))
            for name_, value in headers
            if name_ not in _NOT_STORED
        ]
        stored += [("X-Call-Id", call_id), ("X-Start-Time", str(int(started_at * 1e9)))]
        client = scope.get("client")
        call = QueuedCall(
            call_id=call_id,
            function=function.name,
            method=method,
            path=path,
            headers=tuple(stored),
            body=body,
            started_at=started_at,
            callback_url=callback_url,
            client_address=client[0] if client else None,
        )
        fingerprint = None
        if idempotency_key:
            fingerprint = call_fingerprint(method, function.name, path, body, callback_url)
        return await store_call(broker, self._config, call, idempotency_key, fingerprint)


async def store_call(
    broker: Broker,
    config: AsyncConfig,
    call: QueuedCall,
    idempotency_key: str | None,
    fingerprint: str | None = None,
) -> str:
    """Store `call` (its status record `queued`, then the message, with ack); its id. With
    an `idempotency_key` (the call's id derives from it), a call stored already is not
    queued again: within the window JetStream drops the repeat, after it the record says
    so; a record bound to another `fingerprint` is `Conflict`. Every door (async calls,
    triggers) queues a call through here."""
    broker.queue.check_size(call, dedupe_id=call.call_id)
    # The record first: a consumer may finish the call before a later write would land.
    created = await broker.statuses.create(
        CallStatus(
            callId=call.call_id, function=call.function, state="queued", fingerprint=fingerprint
        )
    )
    if not created and await _queued_already(broker, config, call, idempotency_key, fingerprint):
        return call.call_id
    try:
        await broker.queue.enqueue(call, dedupe_id=call.call_id)
    except GatewayError:
        if created:  # not queued: no record saying it is
            with contextlib.suppress(GatewayError):
                await broker.statuses.delete(call.call_id)
        raise
    return call.call_id


@dataclass(frozen=True)
class RecordedCall:
    """A call whose status record is in place (`record_calls`), yet to be published."""

    message: CallMessage
    created: bool
    """Its record was written for it here (not found: another door's, or an earlier
    firing's): forgotten again if the call is not queued."""


async def store_calls(
    broker: Broker, config: AsyncConfig, calls: Sequence[tuple[QueuedCall, str]]
) -> list[str | GatewayError]:
    """`store_call` for each (call, idempotency key) of `calls` (a cron tick's), with the
    same checks and outcome per call, in order: its id, or the error `store_call` would
    raise. Each byte bound is counted once for the batch (not once per call), and the
    status records, then the messages, are written in flight together
    (`connection.gather_bounded`): `record_calls`, then `queue_recorded`."""
    recorded = await record_calls(broker, config, calls)
    publish = [outcome for outcome in recorded if isinstance(outcome, RecordedCall)]
    queued = iter(await queue_recorded(broker, publish))
    return [next(queued) if isinstance(outcome, RecordedCall) else outcome for outcome in recorded]


async def record_calls(
    broker: Broker, config: AsyncConfig, calls: Sequence[tuple[QueuedCall, str]]
) -> list[RecordedCall | str | GatewayError]:
    """The first half of `store_calls`, which may run ahead of the second: per call, in
    order, a `RecordedCall` (its record in place: publish it with `queue_recorded`),
    its id (queued already, past the idempotency window: nothing to do) or the error."""
    if not calls:
        return []
    outcomes: list[RecordedCall | str | GatewayError] = [call.call_id for call, _ in calls]
    messages: dict[int, CallMessage] = {}
    for index, (call, _) in enumerate(calls):
        try:
            messages[index] = broker.queue.message(call, dedupe_id=call.call_id)
        except GatewayError as error:
            outcomes[index] = error
    sized = list(messages)
    statuses = [
        CallStatus(callId=calls[i][0].call_id, function=calls[i][0].function, state="queued")
        for i in sized
    ]
    created = dict(zip(sized, await broker.statuses.create_many(statuses), strict=True))
    existing: list[int] = []
    for index, outcome in created.items():
        if isinstance(outcome, GatewayError):
            outcomes[index] = outcome
        elif outcome:
            outcomes[index] = RecordedCall(messages[index], created=True)
        else:
            existing.append(index)
    checks = await gather_bounded(
        [partial(_queued_already, broker, config, *calls[i], None) for i in existing]
    )
    for index, check in zip(existing, checks, strict=True):
        if isinstance(check, GatewayError):
            outcomes[index] = check
        elif not check:  # stored before, within the window: published (again)
            outcomes[index] = RecordedCall(messages[index], created=False)
    return outcomes


async def queue_recorded(
    broker: Broker, recorded: Sequence[RecordedCall]
) -> list[str | GatewayError]:
    """The second half of `store_calls`: publish each call of `recorded` (the calls
    stream's bytes counted once); per call, in order, its id or why it was not queued
    (its record, if written for it, forgotten again)."""
    queued = await broker.queue.enqueue_many([entry.message for entry in recorded])
    outcomes: list[str | GatewayError] = []
    undo: list[Callable[[], Awaitable[None]]] = []
    for entry, result in zip(recorded, queued, strict=True):
        if isinstance(result, GatewayError):
            outcomes.append(result)
            if entry.created:  # not queued: no record saying it is
                undo.append(partial(broker.statuses.delete, entry.message.call.call_id))
        else:
            outcomes.append(entry.message.call.call_id)
    await gather_bounded(undo)
    return outcomes


async def _queued_already(
    broker: Broker,
    config: AsyncConfig,
    call: QueuedCall,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> bool:
    """For a call whose status record exists already: whether it was queued past the
    idempotency window (so a publish now would run it again); `Conflict` if the record
    is bound to another `fingerprint`."""
    if idempotency_key is None:  # a uuid4 clash: never in practice
        raise BadRequest(f"call id {call.call_id} is in use")
    existing = await broker.statuses.get(call.call_id)
    if existing is not None and existing.fingerprint not in (None, fingerprint):
        raise Conflict(
            f"X-Idempotency-Key {idempotency_key[:80]!r} was used for a different "
            f"call to {call.function!r} (call {call.call_id}: another method, path, query, "
            "body or callback URL); use a new key for a new call"
        )
    # Queued once already, past JetStream's de-duplication window: a publish now would
    # run it again under the same id.
    return existing is not None and time.time() - existing.queuedAt >= config.idempotency_window


def split_async_path(raw_path: bytes, query: bytes) -> tuple[str, str]:
    """(function name, path + query to send it) from `/async-function/<name>[/<rest>]`."""
    if not raw_path.startswith(ASYNC_PREFIX):
        raise BadRequest("missing function name: use /async-function/<name>")
    name_part, slash, rest = raw_path[len(ASYNC_PREFIX) :].partition(b"/")
    name = unquote(name_part.decode("latin-1"))
    if not name:
        raise BadRequest("missing function name: use /async-function/<name>")
    return name, upstream_path(slash + rest or b"/", query)
