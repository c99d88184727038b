"""A function's async backlog as the autoscaler counts it: up to what a consumer runs."""

from __future__ import annotations

from gateway.async_calls.queue_load import queued_load, runnable_at_once
from gateway.labels import MAX_INFLIGHT_LABEL
from gateway.providers.base import Function


def function(name: str, **labels: str) -> Function:
    return Function(name=name, image="img", replicas=1, upstream_host=f"tasks.{name}",
                    labels=labels)  # fmt: skip


def test_a_backlog_counts_up_to_the_consumers_concurrency() -> None:
    assert queued_load({"echo": 1000}, [function("echo")], 16, 1) == {"echo": 16}
    assert queued_load({"small": 3}, [function("small")], 16, 1) == {"small": 3}


def test_each_running_consumer_adds_its_share_and_none_running_counts_nothing() -> None:
    capped = function("capped", **{MAX_INFLIGHT_LABEL: "4"})
    functions = [function("echo"), capped]
    assert queued_load({"echo": 1000}, functions, 16, 3) == {"echo": 48}
    assert queued_load({"capped": 1000}, functions, 16, 3) == {"capped": 12}
    assert queued_load({"echo": 1000}, functions, 16, 0) == {}


def test_max_inflight_bounds_it_further_but_never_above_the_concurrency() -> None:
    assert runnable_at_once(function("f", **{MAX_INFLIGHT_LABEL: "4"}), 16) == 4
    assert runnable_at_once(function("f", **{MAX_INFLIGHT_LABEL: "400"}), 16) == 16
    assert runnable_at_once(function("f", **{MAX_INFLIGHT_LABEL: "nonsense"}), 16) == 16


def test_names_are_matched_by_subject_token_and_idle_functions_left_out() -> None:
    queued = {"a_b": 2, "gone": 5}
    assert queued_load(queued, [function("a.b"), function("idle")], 16, 1) == {"a.b": 2}


def test_backlogs_together_share_what_the_consumers_run() -> None:
    functions = [function("a"), function("b"), function("c")]
    queued = {"a": 1000, "b": 1000, "c": 2}
    # Alone each would count 16; together the one consumer runs 16 in all.
    assert queued_load(queued, functions, 16, 1) == {"a": 7, "b": 7, "c": 1}
    assert sum(queued_load(queued, functions, 16, 2).values()) <= 32
