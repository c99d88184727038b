"""When a failed async call is tried again, and after how long.

Per function, from its labels (parsed by `gateway.labels`, the one label parser):
`com.faas.retry.attempts` (tries in all, first one included), `.codes` (statuses that
are retried; a failed connection always is), `.min_wait` and `.max_wait` (the backoff's
bounds). The wait doubles per attempt from `min_wait`, capped at `max_wait`, with full
jitter; a `Retry-After` from the function (seconds) is honoured, capped at `max_wait`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.labels import (
    RETRY_ATTEMPTS_LABEL,
    RETRY_CODES_LABEL,
    RETRY_MAX_WAIT_LABEL,
    RETRY_MIN_WAIT_LABEL,
    LabelProblem,
    parse_attempts,
    parse_duration,
    parse_status_codes,
)

log = logging.getLogger("gateway.async")

T = TypeVar("T")

DEFAULT_RETRY_CODES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one function's async calls are retried."""

    attempts: int = 5
    codes: frozenset[int] = DEFAULT_RETRY_CODES
    min_wait: float = 1.0
    max_wait: float = 60.0

    def retries(self, status: int | None) -> bool:
        """Whether this outcome (None: no answer at all) is worth another attempt."""
        return status is None or status in self.codes

    def wait(
        self,
        attempt: int,
        retry_after: float | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        ceiling: float = min(self.max_wait, self.min_wait * 2.0 ** min(attempt - 1, 30))
        return self.min_wait + (ceiling - self.min_wait) * random_fraction()


DEFAULT_POLICY = RetryPolicy()


def retry_policy(labels: Mapping[str, str], default: RetryPolicy = DEFAULT_POLICY) -> RetryPolicy:
    """A function's policy from its labels; an invalid value is logged and its default used."""

    def read(label: str, parse: Callable[[str], T | None], fallback: T, expected: str) -> T:
        raw = labels.get(label, "")
        if not raw.strip():
            return fallback
        value = parse(raw)
        if value is None:
            log.warning("%s", LabelProblem(label, raw, expected))
            return fallback
        return value

    min_wait = read(RETRY_MIN_WAIT_LABEL, parse_duration, default.min_wait, "a duration")
    max_wait = read(RETRY_MAX_WAIT_LABEL, parse_duration, default.max_wait, "a duration")
    return RetryPolicy(
        attempts=read(RETRY_ATTEMPTS_LABEL, parse_attempts, default.attempts, "1-100"),
        codes=read(RETRY_CODES_LABEL, parse_status_codes, default.codes, "status codes"),
        min_wait=min_wait,
        max_wait=max(max_wait, min_wait),
    )


def parse_retry_after(value: bytes | None) -> float | None:
    """Seconds from a `Retry-After` header in seconds; None for none or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 9:
        return None
    return float(int(text))
