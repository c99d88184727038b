"""The kill-under-load summary: failed calls, their kinds, the first good answer."""

from __future__ import annotations

import pytest

from bench.kill import describe, seconds
from bench.load_loop import Call, KillSummary, summarize


def test_nothing_failed() -> None:
    calls = [Call(9.0, 9.1), Call(10.2, 10.3), Call(10.4, 10.5)]
    summary = summarize(calls, kill_at=10.0)
    assert (summary.calls, summary.failed) == (3, 0)
    assert summary.first_failure_s is None
    assert summary.first_good_s == pytest.approx(0.3)
    assert summary.errors_text() == "none"


def test_first_good_answer_comes_after_the_failures() -> None:
    calls = [
        Call(9.5, 9.6),
        Call(10.01, 10.05),  # answered before the kill took effect: not the recovery
        Call(10.1, 10.1, "ConnectionRefusedError"),
        Call(10.2, 10.2, "ConnectionRefusedError"),
        Call(11.0, 13.0, "TimeoutError"),
        Call(12.0, 12.5, "status 502"),
        Call(14.0, 14.2),
        Call(14.1, 14.15),
    ]
    summary = summarize(calls, kill_at=10.0)
    assert summary.failed == 4
    assert summary.errors == {"ConnectionRefusedError": 2, "TimeoutError": 1, "status 502": 1}
    assert summary.first_failure_s == pytest.approx(0.1)
    assert summary.last_failure_s == pytest.approx(3.0)
    assert summary.first_good_s == pytest.approx(4.15)
    # Good answers ended at 10.05 and 14.15, 14.2: the longest stretch without one.
    assert summary.longest_gap_s == pytest.approx(4.1)
    assert summary.errors_text() == "2 ConnectionRefusedError, 1 TimeoutError, 1 status 502"


def test_no_good_answer_after_the_kill() -> None:
    calls = [Call(9.0, 9.1), Call(10.1, 10.2, "ConnectionRefusedError")]
    summary = summarize(calls, kill_at=10.0)
    assert summary.first_good_s is None
    assert summary.longest_gap_s is None
    assert seconds(summary.first_good_s) == "never"


def test_describe() -> None:
    summary = KillSummary(calls=5120, failed=3, errors={"BrokenPipeError": 3})
    assert describe(summary) == "3 of 5,120 calls failed (3 BrokenPipeError)"
