"""Retry policies from labels, and the backoff's bounds."""

from __future__ import annotations

from gateway.async_calls.retry import (
    DEFAULT_POLICY,
    DEFAULT_RETRY_CODES,
    RetryPolicy,
    parse_retry_after,
    retry_policy,
)
from gateway.labels import label_problems


def test_defaults_without_labels() -> None:
    assert retry_policy({}) == DEFAULT_POLICY
    assert DEFAULT_POLICY.codes == DEFAULT_RETRY_CODES == {408, 429, 500, 502, 503, 504}


def test_labels_override_and_invalid_values_keep_the_default() -> None:
    policy = retry_policy(
        {
            "com.faas.retry.attempts": "3",
            "com.faas.retry.codes": "429, 503",
            "com.faas.retry.min_wait": "500ms",
            "com.faas.retry.max_wait": "2s",
        }
    )
    assert policy == RetryPolicy(3, frozenset({429, 503}), 0.5, 2.0)
    broken = retry_policy({"com.faas.retry.attempts": "many", "com.faas.retry.codes": "600"})
    assert (broken.attempts, broken.codes) == (DEFAULT_POLICY.attempts, DEFAULT_POLICY.codes)


def test_backoff_doubles_within_bounds_and_honours_retry_after() -> None:
    policy = RetryPolicy(10, DEFAULT_RETRY_CODES, 1.0, 8.0)
    assert [policy.wait(n, random_fraction=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [
        1.0, 2.0, 4.0, 8.0, 8.0,
    ]  # fmt: skip
    assert policy.wait(3, random_fraction=lambda: 0.0) == 1.0
    assert policy.wait(1, retry_after=5.0) == 5.0
    assert policy.wait(1, retry_after=3600.0) == 8.0


def test_retry_after() -> None:
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


def test_deploy_time_label_checks() -> None:
    problems = label_problems(
        {
            "com.faas.retry.attempts": "0",
            "com.faas.retry.atempts": "3",
            "com.faas.retry.min_wait": "10s",
            "com.faas.retry.max_wait": "1s",
            "com.faas.async.max_inflight": "x",
        }
    )
    assert {problem.label for problem in problems} == {
        "com.faas.retry.attempts",
        "com.faas.retry.atempts",
        "com.faas.retry.max_wait",
        "com.faas.async.max_inflight",
    }
