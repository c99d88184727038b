"""The queue consumer calls functions through the gateway's own call path, so a function's
answer has the same bounds there as on a synchronous call (docs/security.md)."""

from __future__ import annotations

from tests.gateway.async_calls.harness import (
    ConsumerThread,
    Received,
    Reply,
    ScriptedUpstream,
)
from tests.gateway.async_calls.test_async_calls import enqueue, wait_for_state
from tests.gateway.harness import GatewayThread


def test_a_response_head_over_the_bound_fails_the_call_saying_so(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    def oversized(request: Received, seen: int) -> Reply:
        return 200, {"X-Big": "b" * (70 * 1024)}, b"not seen"

    upstream.script = oversized
    call_id = enqueue(gateway, "/async-function/flaky").headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "failed")
    assert record["error"] == "function 'flaky' answered with a response head over 64 KiB"
    assert (record["status"], record["attempt"], record["deadLettered"]) == (502, 3, True)
    assert "body" not in record or record["body"] in (None, "")
    assert len(upstream.received) == 3
