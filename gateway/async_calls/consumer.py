"""The queue consumer: takes queued calls from JetStream and runs them, at least once.

Each call is found as a function call is (`gateway.calls.Calls`: lookup, version) and
goes through the gateway's own proxy path (`Forwarder.call`: replica choice, retry on
another replica, holds and scale from zero) with the provider's view of the functions.
A message is acked only after its outcome is recorded: the status record, the callback
POST, and the dead-letter copy for a call that failed for good. A consumer that dies
mid-call never acks, so JetStream delivers the call again after `ack_wait`; from delivery
to ack (the callback and dead-letter copy included) the consumer tells JetStream it is
still working on it.

Retries wait in JetStream (a negative ack with a delay), not in the consumer, so a
consumer restart loses no retry. docs/async.md has the whole contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import nats.errors
from multidict import CIMultiDict
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from gateway.asgi import header
from gateway.async_calls.broker import Broker
from gateway.async_calls.callbacks import callback_authorization
from gateway.async_calls.jobs import JobRunner
from gateway.async_calls.messages import CallStatus, QueuedCall
from gateway.async_calls.metrics import ConsumerMetrics
from gateway.async_calls.presence import PRESENCE_SECONDS
from gateway.async_calls.queue_load import max_inflight
from gateway.async_calls.retry import DEFAULT_POLICY, RetryPolicy, parse_retry_after, retry_policy
from gateway.calls import Calls
from gateway.config import AsyncConfig, BasicAuthCredentials
from gateway.errors import (
    BrokerFull,
    FunctionNotFound,
    GatewayError,
    LoopDetected,
    NoReplicas,
    NotSupported,
    UpstreamTimeout,
    UpstreamUnavailable,
    status_code,
)
from gateway.providers.base import Function, ProviderStatus
from gateway.proxy.forwarder import CallResult, Forwarder
from gateway.proxy.headers import upstream_request_headers

log = logging.getLogger("gateway.async.worker")

CALLBACK_ATTEMPTS = 3
DEFER_SECONDS = 0.5
"""How long a call waits in the queue when its function is at `max_inflight`."""
PENDING_REFRESH_SECONDS = 5.0
FINAL_STATES = ("succeeded", "failed")


class QueueConsumer:
    """Runs queued calls until `stop` is set; `run` is the whole loop."""

    def __init__(
        self,
        config: AsyncConfig,
        broker: Broker,
        calls: Calls,
        provider_status: Callable[[], ProviderStatus],
        forwarder: Forwarder,
        callbacks: Forwarder,
        metrics: ConsumerMetrics,
        *,
        default_policy: RetryPolicy = DEFAULT_POLICY,
        invoke_credentials: BasicAuthCredentials | None = None,
        jobs: JobRunner | None = None,
        consumer_id: str | None = None,
    ) -> None:
        """`provider_status`: whether the provider's view is ready (a function missing
        from a view that is not is not missing yet). `invoke_credentials`: what callbacks
        to the gateway's own functions carry (`GATEWAY_INVOKE_AUTH`; None: nothing).
        `jobs`: runs the calls of job functions (None: they fail, no engine for them)."""
        self._config = config
        self._broker = broker
        self._calls = calls
        self._provider_status = provider_status
        self._forwarder = forwarder
        self._callbacks = callbacks
        self._metrics = metrics
        self._default_policy = default_policy
        self._invoke_credentials = invoke_credentials
        self._inflight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        # How the broker (and the job services) tell this consumer from the others.
        self._id = consumer_id or uuid.uuid4().hex
        self._jobs = jobs

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and run calls until `stop`; then let the calls running finish."""
        refresher = asyncio.create_task(self._refresh_pending(stop))
        presence = asyncio.create_task(self._announce(stop))
        subscription: JetStreamContext.PullSubscription | None = None
        generation = 0
        concurrency = self._config.consumer_concurrency
        try:
            while not stop.is_set():
                if not self._broker.ready:
                    subscription = None
                    await _sleep_until(stop, 0.2)
                    continue
                if subscription is None or generation != self._broker.generation:
                    # A new connection (the old one closed for good): subscribe on it.
                    generation = self._broker.generation
                    try:
                        subscription = await self._broker.queue.subscribe(
                            self._config.ack_wait, max_ack_pending=10_000
                        )
                    except GatewayError as error:
                        log.warning("cannot subscribe: %s", error.message)
                        subscription = None
                        await _sleep_until(stop, 1.0)
                        continue
                free = concurrency - len(self._tasks)
                if free <= 0:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    messages = await subscription.fetch(batch=free, timeout=1.0)
                except TimeoutError:
                    continue
                except nats.errors.Error as error:
                    log.warning("fetch failed (%r); subscribing again", error)
                    subscription = None
                    await _sleep_until(stop, 0.5)
                    continue
                for message in messages:
                    task = asyncio.create_task(self._handle(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            refresher.cancel()
            presence.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=self._config.ack_wait)
            if self._broker.ready:
                with contextlib.suppress(GatewayError):
                    await self._broker.presence.withdraw(self._id)

    async def _announce(self, stop: asyncio.Event) -> None:
        """Keep this consumer counted by `ConsumerPresence.running` while it runs."""
        while not stop.is_set():
            if self._broker.ready:
                try:
                    await self._broker.presence.announce(self._id)
                except GatewayError as error:
                    log.debug("worker presence not announced: %s", error.message)
            await _sleep_until(stop, PRESENCE_SECONDS / 3)

    async def _refresh_pending(self, stop: asyncio.Event) -> None:
        seen: set[str] = set()
        while not stop.is_set():
            try:
                await self._broker.queue.drop_acked_leftovers()
            except GatewayError as error:  # the gauge below is still worth updating
                log.debug("acked leftovers not checked: %s", error.message)
            with contextlib.suppress(GatewayError):
                now = await self._broker.queue.pending()
                for name in seen - now.keys():
                    self._metrics.pending.labels(name).set(0)
                for name, count in now.items():
                    self._metrics.pending.labels(name).set(count)
                seen = set(now)
            await _sleep_until(stop, PENDING_REFRESH_SECONDS)

    async def _handle(self, message: Msg) -> None:
        try:
            call = QueuedCall.from_nats(message.headers, message.data)
        except ValueError as error:
            log.error("dropping a message that is no call: %s", error)
            with contextlib.suppress(Exception):
                await message.term()
            return
        # Until the ack (or nak): the callback and the dead-letter copy can take longer
        # than ack_wait, and without a heartbeat JetStream would run the call again.
        heartbeat = asyncio.create_task(self._heartbeat(message))
        try:
            await self._run(call, message)
        except GatewayError as error:  # the broker went away: JetStream delivers it again
            log.warning("call %s: %s; it will be delivered again", call.call_id, error.message)
            with contextlib.suppress(Exception):
                await message.nak(delay=1.0)
        except Exception:
            log.exception("call %s: unexpected error; it will be delivered again", call.call_id)
            with contextlib.suppress(Exception):
                await message.nak(delay=1.0)
        finally:
            heartbeat.cancel()

    async def _run(self, call: QueuedCall, message: Msg) -> None:
        try:
            function: Function | None = self._calls.find(call.function)
        except FunctionNotFound:
            function = None
        status = await self._broker.statuses.get(call.call_id)
        if status is None:
            status = CallStatus(callId=call.call_id, function=call.function, state="queued")
            status.queuedAt = call.started_at
        elif status.state in FINAL_STATES:
            # Finished already (its outcome is recorded last, just before the ack): this
            # is a delivery again after an ack that never reached JetStream.
            log.info("call %s: %s already; not run again", call.call_id, status.state)
            await message.ack_sync(timeout=self._config.publish_timeout)
            return
        if function is None:
            if not self._provider_status().ready:
                await message.nak(delay=2.0)
                return
            await self._finish(
                call, message, status, None, f"function {call.function!r} not found", None
            )
            return
        limit = max_inflight(function)
        if limit is not None and self._inflight[function.name] >= limit:
            await message.nak(delay=DEFER_SECONDS * (1 + random.random()))
            return
        jobs = self._jobs if function.job else None
        if jobs is not None and not jobs.reserve(function):
            # Over its jobs' bounds: it waits in the queue (not an attempt), never dropped.
            await message.nak(delay=DEFER_SECONDS * (1 + random.random()))
            return
        # Counted before the first await, so concurrent deliveries see each other.
        self._inflight[function.name] += 1
        self._metrics.inflight.labels(function.name).inc()
        try:
            attempt = status.attempt + 1
            status.state, status.attempt = "running", attempt
            await self._broker.statuses.put(status)
            if function.job:
                result, error = await self._run_job(function, call)
            else:
                result, error = await self._invoke(function, call)
        finally:
            if jobs is not None:
                jobs.release(function)
            self._inflight[function.name] -= 1
            self._metrics.inflight.labels(function.name).dec()
        policy = retry_policy(function.labels, self._default_policy)
        code = result.status if result is not None else (status_code(error) if error else 500)
        failed = result is None or not 200 <= result.status < 300
        if result is not None:
            retryable = failed and result.status in policy.codes
        else:
            retryable = _no_answer(error) or code in policy.codes
        if retryable and attempt < policy.attempts:
            retry_after = parse_retry_after(
                header(_lower(result.headers), b"retry-after") if result is not None else None
            )
            wait = policy.wait(attempt, retry_after)
            status.state, status.status = "queued", code
            status.error = error.message if error is not None else f"status {code}"
            await self._broker.statuses.put(status)
            self._metrics.retries.labels(function.name, str(code)).inc()
            log.info(
                "call %s to %r: attempt %d got %s; again in %.1fs",
                call.call_id,
                function.name,
                attempt,
                code,
                wait,
            )
            await message.nak(delay=wait)
            return
        reason = None
        if failed:
            reason = error.message if error is not None else f"status {code}"
        await self._finish(call, message, status, result, reason, code)

    async def _finish(
        self,
        call: QueuedCall,
        message: Msg,
        status: CallStatus,
        result: CallResult | None,
        reason: str | None,
        code: int | None,
    ) -> None:
        """Record the final outcome (status, callback, dead letter), then ack."""
        duration = time.time() - call.started_at
        status.state = "failed" if reason is not None else "succeeded"
        status.status = code
        status.error = reason
        status.durationSeconds = round(duration, 6)
        if result is not None:
            status.set_body(result.body, self._config.result_body_limit, result.length)
        if call.callback_url:
            status.callbackStatus = await self._callback(call, result, code, duration)
        if reason is not None:
            await self._broker.dead_letters.store(call.dead(reason, status.attempt, code))
            status.deadLettered = True
            self._metrics.dead_lettered.labels(call.function).inc()
        try:
            await self._broker.statuses.put(status)
        except BrokerFull as error:
            # The outcome went out already (callback, dead letter): running the call again
            # for want of a record would be worse than a stale record.
            log.error("call %s: its final status not recorded: %s", call.call_id, error.message)
        # Confirmed: a lost ack would mean a delivery again (which then only acks).
        await message.ack_sync(timeout=self._config.publish_timeout)
        self._metrics.completed.labels(call.function, str(code or 0)).inc()
        self._metrics.latency.labels(call.function).observe(duration)

    async def _heartbeat(self, message: Msg) -> None:
        while True:
            await asyncio.sleep(self._config.ack_wait / 3)
            with contextlib.suppress(Exception):
                await message.in_progress()

    async def _run_job(
        self, function: Function, call: QueuedCall
    ) -> tuple[CallResult | None, GatewayError | None]:
        if self._jobs is None:
            return None, NotSupported(
                f"function {function.name!r} is a job, and this queue worker runs no jobs "
                "(its provider has no engine for them)"
            )
        return await self._jobs.run(function, call)

    async def _invoke(
        self, function: Function, call: QueuedCall
    ) -> tuple[CallResult | None, GatewayError | None]:
        """The function's answer, or the error that stood for it."""
        try:
            raw_headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in call.headers
            ]
            function = self._calls.version(function, raw_headers)
            headers, _ = upstream_request_headers(
                raw_headers,
                upstream_host=f"{function.upstream_host}:{function.upstream_port}",
                client_address=call.client_address,
                scheme="http",
            )
            keep = self._config.result_body_limit
            if call.callback_url:
                keep = max(keep, self._config.max_body)
            result = await self._forwarder.call(
                function, call.method, call.path, headers, call.body, keep=keep
            )
            return result, None
        except GatewayError as error:
            return None, error

    async def _callback(
        self, call: QueuedCall, result: CallResult | None, code: int | None, duration: float
    ) -> int | None:
        """POST the result to the call's callback URL; its status (None: never answered)."""
        assert call.callback_url is not None
        parts = urlsplit(call.callback_url)
        host, port = parts.hostname or "", parts.port or 80
        target = Function(
            name="callback", image="", replicas=1, upstream_host=host, upstream_port=port
        )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Host"] = parts.netloc
        headers["X-Call-Id"] = call.call_id
        headers["X-Function-Name"] = call.function
        headers["X-Function-Status"] = str(code or 500)
        headers["X-Duration-Seconds"] = f"{duration:f}"
        authorization = callback_authorization(
            call.callback_url, self._config, self._invoke_credentials
        )
        if authorization is not None:
            headers["Authorization"] = authorization
        body = b""
        if result is not None:
            body = result.body
            content_type = header(_lower(result.headers), b"content-type")
            if content_type is not None:
                headers["Content-Type"] = content_type.decode("latin-1")
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            try:
                answer = await self._callbacks.call(target, "POST", path, headers, body, keep=0)
            except GatewayError as error:
                log.warning(
                    "call %s: callback to %s failed: %s",
                    call.call_id,
                    call.callback_url,
                    error.message,
                )
            else:
                if answer.status < 500 or attempt == CALLBACK_ATTEMPTS:
                    return answer.status
            if attempt < CALLBACK_ATTEMPTS:
                await asyncio.sleep(0.5 * 2**attempt)
        return None


def _no_answer(error: GatewayError | None) -> bool:
    """Whether the call got no answer from the function at all (always worth a retry)."""
    if isinstance(error, LoopDetected):
        return False
    return isinstance(error, (UpstreamUnavailable, UpstreamTimeout, NoReplicas)) or (
        error is not None and status_code(error) in (502, 503, 504)
    )


def _lower(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower(), value) for name, value in headers]


async def _sleep_until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
