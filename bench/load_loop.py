"""A bounded request loop that records every call, for the failure scenarios.

`run_kill_loop` keeps `concurrency` keep-alive clients (threads, http.client) calling
one URL, calls `kill()` after a while, and goes on until the service has answered well
again for a while (or a deadline passes). Every call is recorded with its start, end
and outcome, so `summarize` can say how many failed, why, and how long after the kill
the first good answer came. wrk cannot tell that last part, hence this loop.

A client whose call failed waits `backoff_s` before its next one, as a real client
would; the number of failed calls therefore depends on it (the time without good
answers does not much), and the report names it.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """One call: monotonic start and end, and what went wrong ("" when it was a 2xx)."""

    started: float
    ended: float
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the call got a 2xx answer."""
        return not self.error


@dataclass(frozen=True)
class KillSummary:
    """What a kill under load cost. Times in seconds from the kill."""

    calls: int
    failed: int
    errors: dict[str, int] = field(default_factory=dict)
    """Failed calls by kind: an exception's class name, or `status <code>`."""
    first_failure_s: float | None = None
    last_failure_s: float | None = None
    """When the last failed call ended."""
    first_good_s: float | None = None
    """When the first good answer ended among the calls that started after the first
    failure (after the kill when nothing failed); None when none came."""
    longest_gap_s: float | None = None
    """The longest time after the kill with no good answer ending (None: none came)."""

    def errors_text(self) -> str:
        """The kinds of failure, most frequent first (`3 ConnectionResetError, ...`)."""
        ranked = sorted(self.errors.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{count} {kind}" for kind, count in ranked) or "none"


def summarize(calls: Sequence[Call], kill_at: float) -> KillSummary:
    """Count the failed calls and find the first good answer after the kill."""
    failures = sorted((c for c in calls if not c.ok), key=lambda c: c.started)
    kinds = Counter(c.error for c in failures)
    first_failure = failures[0].started if failures else None
    since = max(kill_at, first_failure) if first_failure is not None else kill_at
    good_after = [c.ended for c in calls if c.ok and c.started >= since]
    ends = sorted([kill_at, *(c.ended for c in calls if c.ok and c.ended >= kill_at)])
    gaps = [later - earlier for earlier, later in itertools.pairwise(ends)]
    return KillSummary(
        calls=len(calls),
        failed=len(failures),
        errors=dict(kinds),
        first_failure_s=None if first_failure is None else first_failure - kill_at,
        last_failure_s=max(c.ended for c in failures) - kill_at if failures else None,
        first_good_s=min(good_after) - kill_at if good_after else None,
        longest_gap_s=max(gaps) if gaps else None,
    )


def one_call(connection: http.client.HTTPConnection, path: str, body: bytes) -> str:
    """POST `body` to `path` on a keep-alive connection; "" on a 2xx, else what failed."""
    connection.request(
        "POST", path, body=body, headers={"Content-Type": "application/octet-stream"}
    )
    response = connection.getresponse()
    response.read()
    return "" if 200 <= response.status < 300 else f"status {response.status}"


@dataclass
class KillLoop:
    """The clients, the calls they made, and when the kill happened."""

    host: str
    port: int
    path: str
    body: bytes
    concurrency: int
    timeout_s: float = 2.0
    backoff_s: float = 0.1
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> None:
        """One client: call until told to stop, reconnecting after a failure."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                error = one_call(connection, self.path, self.body)
            except (OSError, http.client.HTTPException) as err:
                error = type(err).__name__
            call = Call(started, time.monotonic(), error)
            with self._lock:
                self.calls.append(call)
            if error:
                connection.close()
                self._stop.wait(self.backoff_s)
        connection.close()

    def snapshot(self) -> list[Call]:
        """The calls so far."""
        with self._lock:
            return list(self.calls)

    def run(
        self,
        kill: Callable[[], None],
        *,
        before_s: float,
        after_s: float,
        max_s: float,
    ) -> KillSummary:
        """Load for `before_s`, `kill()`, then load until a good answer came after the
        failures and `after_s` more passed (at most `max_s` after the kill)."""
        threads = [
            threading.Thread(target=self.client, name=f"kill-loop-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(before_s)
            kill_at = time.monotonic()
            kill()
            while (now := time.monotonic()) - kill_at < max_s:
                summary = summarize(self.snapshot(), kill_at)
                if (
                    summary.first_good_s is not None
                    and now - kill_at
                    >= max(summary.first_good_s, summary.last_failure_s or 0.0) + after_s
                ):
                    break
                time.sleep(0.05)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=self.timeout_s + 5)
        return summarize(self.snapshot(), kill_at)
