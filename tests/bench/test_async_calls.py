"""Scenario 8's helpers: counting a worker's completions, timing a drain, and starting
nats-server and a queue worker as the scenario does."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.async_calls import Drain, completed_calls, drain_rate, metrics_text
from bench.processes import gateway_env, http_status, start_nats, start_queue_worker
from tests.support import free_port, require_tool

METRICS = """\
# HELP gateway_async_completed_total Async calls finished (the final status; 0: no answer)
# TYPE gateway_async_completed_total counter
gateway_async_completed_total{code="200",function_name="echo"} 1200.0
gateway_async_completed_total{code="500",function_name="echo"} 3.0
gateway_async_completed_total{code="0",function_name="echo"} 1.0
gateway_async_completed_total{code="200",function_name="echo2"} 7.0
gateway_async_completed_created{code="200",function_name="echo"} 1.7e+09
gateway_async_inflight{function_name="echo"} 16.0
"""


def test_completed_calls_sums_every_code_of_the_function() -> None:
    assert completed_calls(METRICS, "echo") == (1204, 4)
    assert completed_calls(METRICS, "echo2") == (7, 0)
    assert completed_calls(METRICS, "other") == (0, 0)
    assert completed_calls("", "echo") == (0, 0)


def test_drain_is_timed_from_the_first_poll_to_the_target() -> None:
    polls = [(10.0, 40), (10.5, 540), (11.0, 1040), (11.5, 1100), (12.0, 1100)]
    drain = drain_rate(polls, target=1040)
    assert drain == Drain(calls=1000, seconds=1.0, failed=0)
    assert drain.rate == pytest.approx(1000.0)


def test_a_drain_that_never_reaches_its_target_ends_at_the_last_poll() -> None:
    drain = drain_rate([(1.0, 0), (3.0, 100)], target=500)
    assert (drain.calls, drain.seconds, drain.rate) == (100, 2.0, 50.0)


def test_an_empty_drain_has_no_rate() -> None:
    assert drain_rate([], target=10).rate == 0.0
    assert drain_rate([(1.0, 5)], target=5).rate == 0.0


def test_nats_and_a_queue_worker_start_and_report(tmp_path: Path) -> None:
    require_tool("nats-server", "scripts/nats.sh")
    with ExitStack() as stack:
        nats, client_port = start_nats(tmp_path)
        stack.enter_context(nats)
        env = gateway_env(
            free_port(),
            {"echo": f"127.0.0.1:{free_port()}"},
            extra_env={"GATEWAY_NATS_URL": f"nats://127.0.0.1:{client_port}"},
        )
        worker = stack.enter_context(start_queue_worker(tmp_path, env))
        assert http_status(worker.base_url + "/healthz") == 200
        assert completed_calls(metrics_text(worker), "echo") == (0, 0)
